#!/usr/bin/env node
/**
 * Work-around for issue 17 (relayed participants never connect over TURN/TCP or TURN/TLS).
 *
 * Chromium (seen with 156) sends the connectivity checks of its TURN-over-TCP/TLS port with
 * an ICE-CONTROLLING / ICE-CONTROLLED tiebreaker of 0 (RFC 8445 allows any 64-bit value).
 * libjuice 1.7.2 (agent.c, agent_process_stun_binding) compares the attribute *values*:
 *   if (msg->ice_controlling == msg->ice_controlled)  -> 400 "attributes mismatch"
 *   if (msg->use_candidate && !msg->ice_controlling)  -> 400 "use_candidate missing ice_controlling"
 * so a present attribute holding 0 is taken for an absent one and every such check is
 * refused with 400; Chromium then drops the pair and ICE never completes
 * (https://github.com/paullouisageneau/libjuice/issues/355, open).
 *
 * Until node-datachannel ships a libjuice that tracks the attributes' presence, this
 * script patches the prebuilt engine of node-datachannel 0.33.4 (linux-x64-gnu only,
 * identified by its SHA-256): both conditional jumps become NOPs, so the engine accepts
 * checks whatever their tiebreaker (it no longer refuses a check that carries neither
 * attribute; role-conflict handling is unchanged). Idempotent; any other binary is left
 * alone with a warning. `--check` only reports (exit 1 when unpatched).
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const PRISTINE = '936d991f99cc07a48a8327199ca5ba098411f8b873dfe1a456069f09d64c52ff';
const PATCHED = 'e92561dcd06cbcf16eedadc58d2c603b0ac055299aa37a6b4b84d410750ea6dd';
/** file offsets (.text is mapped at its file offset) of `je <400 reply>` (0f 84 rel32) */
const JUMPS = [
  { at: 0x48bf28, was: '0f8471060000' }, // ice_controlling == ice_controlled
  { at: 0x48bf53, was: '0f8492010000' }, // use_candidate && !ice_controlling
];
const NOP6 = '660f1f440000';

const checkOnly = process.argv.includes('--check');
let file;
try {
  const require = createRequire(import.meta.url);
  file = createRequire(require.resolve('node-datachannel')).resolve('@node-datachannel/linux-x64-gnu/node_datachannel.node');
} catch {
  console.warn('patch-engine: no linux-x64-gnu node-datachannel binary here; relayed TURN/TCP participants from Chromium will not connect (issue 17)');
  process.exit(checkOnly ? 1 : 0);
}
const bin = readFileSync(file);
const sha = createHash('sha256').update(bin).digest('hex');
if (sha === PATCHED) {
  console.log(`patch-engine: ${file} already accepts zero ICE tiebreakers`);
  process.exit(0);
}
if (sha !== PRISTINE || checkOnly) {
  console.warn(`patch-engine: ${file} ${sha === PRISTINE ? 'is unpatched' : `is not the known 0.33.4 build (sha256 ${sha}); left alone`}`);
  process.exit(checkOnly ? 1 : 0);
}
for (const j of JUMPS) {
  const got = bin.subarray(j.at, j.at + 6).toString('hex');
  if (got !== j.was) throw new Error(`unexpected bytes at 0x${j.at.toString(16)}: ${got}`);
  Buffer.from(NOP6, 'hex').copy(bin, j.at);
}
if (createHash('sha256').update(bin).digest('hex') !== PATCHED) throw new Error('patched binary has an unexpected hash');
writeFileSync(file, bin);
console.log(`patch-engine: patched ${file} (libjuice accepts ICE tiebreakers of 0; issue 17)`);
