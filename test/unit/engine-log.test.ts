/** How engine log lines map to our log levels: a peer gone under a send is not an error of ours. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { engineLineLevel } from '../../src/media/engine.js';

describe('engineLineLevel', () => {
  it('keeps engine errors errors', () => {
    assert.equal(engineLineLevel('Error', 'rtc::impl::DtlsTransport::doRecv@512: DTLS recv: Handshake failed'), 'error');
    assert.equal(engineLineLevel('Fatal', 'anything'), 'error');
    assert.equal(engineLineLevel('Error', 'rtc::impl::SctpTransport::trySendMessage@687: SCTP sending failed, errno=12'), 'error');
  });

  it('logs an SCTP send refused on a stream its peer is closing (ENOENT) as a warning', () => {
    assert.equal(engineLineLevel('Error', 'rtc::impl::SctpTransport::trySendMessage@687: SCTP sending failed, errno=2'), 'warn');
  });

  it('maps warnings and the rest', () => {
    assert.equal(engineLineLevel('Warning', 'x'), 'warn');
    assert.equal(engineLineLevel('Info', 'x'), 'debug');
    assert.equal(engineLineLevel('Debug', 'x'), 'debug');
  });
});
