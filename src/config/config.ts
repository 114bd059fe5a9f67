/**
 * Command line, environment and config file (docs/protocol.md, "Configuration"). Each option
 * is declared once, as a flag; its environment variable (`WEEVER_` + the flag in upper snake
 * case) and its config-file key (the flag without `--`) are derived from it. Precedence:
 * flag > environment > file > default. A bad value stops the start with a message naming the
 * option, where the value came from and what is allowed.
 */

import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';

/**
 * The TURN server(s) clients are told about (docs/protocol.md, "ICE servers"): one or more
 * URLs of one relay deployment sharing one way of authenticating. `password`: long-term
 * credentials handed out as they are; `secret`: the TURN REST API (coturn
 * `use-auth-secret`), a fresh `<expiry>:<id>` username and its HMAC per response.
 */
export interface TurnConfig {
  urls: string[];
  auth: { kind: 'password'; username: string; credential: string } | { kind: 'secret'; secret: string; ttlSeconds: number };
}

export interface Config {
  host: string;
  port: number;
  privatePort: number;
  /** the private API's address: loopback by default */
  privateHost: string;
  corsDomain: string;
  stun?: string;
  turn?: TurnConfig;
  tls?: { cert: Buffer; key: Buffer };
  publicIp?: string;
  auth: boolean;
  debug: boolean;
  /** --debug's management routes on the public server answer every host, not only loopback (unsafe) */
  debugRemoteManagement: boolean;
  /** pino level */
  logLevel: LogLevel;
  /** ICE: UDP port range, or a single multiplexed UDP port */
  rtcPortRange?: { begin: number; end: number };
  rtcUdpPort?: number;
  rtcBindAddress?: string;
  /** shared state in Redis instead of this process */
  redis?: string;
  /** media routing over NATS instead of this process; own node first */
  nats?: string[];
  maxVideoBitrate: number;
  /** periodic keyframe request fallback, ms; 0 = off */
  keyframeIntervalMs: number;
  /** noise floor of active-speaker detection, dBov (-127 … 0) */
  speakerThresholdDbov: number;
  /**
   * a peer with no inbound RTP/RTCP for this long is closed, ms. Longer than the path
   * outages a browser rides out (up to 10 s), shorter than ICE consent expiry (30 s).
   */
  mediaTimeoutMs: number;
  /** a peer that never connects within this time is closed, ms */
  connectTimeoutMs: number;
  /** a subscriber that does not answer an offer within this time is closed, ms */
  answerTimeoutMs: number;
  sessionTimeoutMs: number;
  maxBodyBytes: number;
  /** run in a child process that is started again when it dies */
  supervise: boolean;
  /** a request (headers and body) must arrive within this, ms; slow clients are cut off */
  requestTimeoutMs: number;
  /** sessions POSTed that have not connected yet, at most; more get 503 */
  maxPendingSessions: number;
  /** POSTs (pub, sub, whep) per source address per minute; 0 = no limit */
  postRatePerMinute: number;
  /** SIGTERM or /preStop: how long existing peers may stay before they are closed, ms */
  drainTimeoutMs: number;
  /** human-readable logs instead of JSON lines */
  logPretty: boolean;
  /** webhook receivers and the HMAC secret of their signatures (docs/protocol.md, webhooks) */
  webhooks?: { urls: string[]; secret: string };
  /** HS256 secret: bearer JWTs granting role, room and id are accepted without a stored token */
  jwtSecret?: Uint8Array;
}

/** Thrown for a bad option value; `message` names the option. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const int = (min: number, max: number) => (value: string) => {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be an integer from ${min} to ${max}`);
  return n;
};

const port = int(0, 65535);

/** Webhook receivers: http(s) URLs, comma separated. */
const webhookUrls = (value: string) =>
  value.split(',').map((u) => {
    let url: URL;
    try {
      url = new URL(u.trim());
    } catch {
      throw new InvalidArgumentError(`${u.trim() || '(empty)'} is not a URL; use http(s)://host[:port]/path, comma separated`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`${u.trim()} must be an http or https URL`);
    return url.href;
  });

/** A level in dBov: an integer from -127 to 0 (`50` is read as -50). */
const dbov = (value: string) => {
  const n = /^-?\d{1,3}$/.test(value) ? Math.abs(Number(value)) : Number.NaN;
  if (!(n >= 0 && n <= 127)) throw new InvalidArgumentError('must be a level in dBov from -127 to 0, e.g. -50');
  return n === 0 ? 0 : -n;
};

const portRange = (value: string) => {
  const m = /^(\d+)-(\d+)$/.exec(value);
  if (!m) throw new InvalidArgumentError('must look like 40000-40100');
  const begin = port(m[1]!);
  const end = port(m[2]!);
  if (begin === 0 || end < begin) throw new InvalidArgumentError('must be a non-empty range of ports above 0');
  return { begin, end };
};

const ip = (value: string) => {
  if (isIP(value) === 0) throw new InvalidArgumentError('must be an IPv4 or IPv6 address');
  return value;
};

const iceUrl = (scheme: 'stun' | 'turn') => (value: string) => {
  if (!new RegExp(`^${scheme}s?:[^\\s,]+$`).test(value)) throw new InvalidArgumentError(`must be a URL like ${scheme}:host:port`);
  return value;
};

/** `turn:`/`turns:` URLs, comma separated: `host[:port][?transport=udp|tcp]` each (RFC 7065). */
const turnUrls = (value: string) => {
  const urls = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new InvalidArgumentError('must list at least one URL like turn:host:3478');
  for (const url of urls) {
    if (!TURN_URL.test(url)) {
      throw new InvalidArgumentError(
        `${url} is not a URL like turn:host:3478, turn:host:3478?transport=tcp or turns:host:443?transport=tcp`,
      );
    }
  }
  return urls;
};

/** RFC 7065 `turn:`/`turns:` URI: host or [IPv6], optional port, optional transport (what engine.ts and browsers parse). */
export const TURN_URL = /^turns?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?:[1-9]\d{0,4}))?(?:\?transport=(?:udp|tcp))?$/;

const redisUrl = (value: string) => {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new InvalidArgumentError('must be a URL like redis://host:6379');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new InvalidArgumentError('must be a redis:// or rediss:// URL');
  if (!u.hostname) throw new InvalidArgumentError('must name a host, like redis://host:6379');
  return value;
};

/** `nats://host:port`, `tls://host:port` or `host:port`, comma separated. */
const natsUrls = (value: string) => {
  const urls = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new InvalidArgumentError('must list at least one URL like nats://host:4222');
  for (const url of urls) {
    const m = /^(?:(nats|tls):\/\/)?(?:[^@\s/]+@)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?$/.exec(url);
    if (!m || (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535))) {
      throw new InvalidArgumentError(`${url} is not a URL like nats://host:4222`);
    }
  }
  return urls;
};

const bool = (value: string) => {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off|)$/i.test(value)) return false;
  throw new InvalidArgumentError('must be true or false');
};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Every variable this server reads starts with this: generic names (DEBUG, PORT, HOST) belong to other tools. */
export const ENV_PREFIX = 'WEEVER_';

/** `--private-port` → `WEEVER_PRIVATE_PORT`. */
export const envName = (long: string) => ENV_PREFIX + long.replace(/^--/, '').replace(/-/g, '_').toUpperCase();

/** Options whose values are never echoed in a message (they may be secrets, or URLs with a password). */
const SECRET = new Set(['turnSecret', 'turnPassword', 'jwtSecret', 'webhookSecret', 'redis', 'nats']);

/** The package's version, for --version (package.json is three levels above dist/src/config/). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function buildCommand(): Command {
  // One place per option: the flag; env name and file key are derived from it.
  const opt = (flags: string, description: string) => {
    const o = new Option(flags, description);
    return o.env(envName(o.long!));
  };
  return new Command('weever-streaming')
    .description('Weever Streaming: a horizontally scalable WebRTC SFU')
    .version(packageVersion(), '--version', 'print the version and exit')
    .addOption(opt('--config <path>', 'YAML file of options (keys: the flags without --); flags and environment win over it'))
    .addOption(opt('--host <addr>', 'address the public HTTP server listens on').default('0.0.0.0'))
    .addOption(opt('--port <n>', 'public HTTP(S) port').argParser(port).default(8443))
    .addOption(opt('--private-port <n>', 'private HTTP port (management, metrics, probes)').argParser(port).default(9443))
    .addOption(
      opt(
        '--private-host <addr>',
        'address the private HTTP server listens on: loopback unless set (it creates tokens and drains the instance)',
      ).default('127.0.0.1'),
    )
    .addOption(opt('--cors-domain <domain>', 'allow CORS from *.<domain> (and any localhost origin)').default('localhost'))
    .addOption(opt('--stun <url>', 'STUN server, e.g. stun:stun.example.org:3478').argParser(iceUrl('stun')))
    .addOption(
      opt(
        '--turn <urls>',
        'TURN server URLs, comma separated, e.g. turn:turn.example.org:3478 and turns:turn.example.org:443?transport=tcp',
      ).argParser(turnUrls),
    )
    .addOption(opt('--turn-secret <secret>', "TURN REST API secret (coturn's static-auth-secret): clients get short-lived credentials"))
    .addOption(
      opt('--turn-ttl <s>', 'lifetime of the credentials made with --turn-secret, seconds')
        .argParser(int(60, 7 * 86400))
        .default(86400),
    )
    .addOption(opt('--turn-username <name>', 'TURN username (long-term credentials; prefer --turn-secret)'))
    .addOption(opt('--turn-password <password>', 'TURN password (long-term credentials; prefer --turn-secret)'))
    .addOption(opt('--cert-file <path>', 'TLS certificate (PEM) for the public server'))
    .addOption(opt('--key-file <path>', 'TLS private key (PEM) for the public server'))
    .addOption(opt('--public-ip <addr>', 'address announced in ICE candidates (1:1 NAT)').argParser(ip))
    .addOption(opt('--auth [bool]', 'require bearer tokens set through the private API').argParser(bool).default(false))
    .addOption(
      opt('--debug [bool]', 'serve the demo pages on the public server, and the management routes there to loopback peers only')
        .argParser(bool)
        .default(false),
    )
    .addOption(
      opt(
        '--debug-remote-management [bool]',
        "UNSAFE: let --debug's management routes (tokens, /debug, /preStop, /metrics) answer other hosts, not only loopback",
      )
        .argParser(bool)
        .default(false),
    )
    .addOption(opt('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(opt('--log-pretty [bool]', 'human-readable logs instead of JSON lines').argParser(bool).default(false))
    .addOption(opt('--jwt-secret <secret>', 'HS256 secret (≥ 32 characters) for bearer JWTs granting role, room, id (with --auth)'))
    .addOption(
      opt('--webhook-url <urls>', 'POST room events to these http(s) URLs, comma separated (with --webhook-secret)').argParser(webhookUrls),
    )
    .addOption(opt('--webhook-secret <secret>', 'HMAC-SHA256 secret (≥ 32 characters) signing webhook requests'))
    .addOption(opt('--redis <url>', 'Redis URL for shared state (several instances), e.g. redis://host:6379').argParser(redisUrl))
    .addOption(
      opt('--nats <urls>', 'NATS URLs, comma separated, own node first, for media routing (several instances)').argParser(natsUrls),
    )
    .addOption(opt('--rtc-port-range <begin-end>', 'UDP port range for ICE, e.g. 40000-40100').argParser(portRange))
    .addOption(opt('--rtc-udp-port <n>', 'one UDP port for all peers (ICE UDP mux)').argParser(int(1, 65535)))
    .addOption(opt('--rtc-bind-address <addr>', 'local address ICE binds to').argParser(ip))
    .addOption(
      opt('--max-video-bitrate <bps>', 'bitrate publishers are asked to send video at (REMB)')
        .argParser(int(100_000, 50_000_000))
        .default(2_000_000),
    )
    .addOption(opt('--keyframe-interval <s>', 'periodic keyframe request fallback, seconds (0 = off)').argParser(int(0, 3600)).default(10))
    .addOption(
      opt('--speaker-threshold <dBov>', 'active speakers: the noise floor, dBov from -127 to 0 (a quieter publisher is not speaking)')
        .argParser(dbov)
        .default(-50),
    )
    .addOption(opt('--media-timeout <s>', 'close a peer whose RTP/RTCP stops for this long, seconds').argParser(int(2, 3600)).default(15))
    .addOption(
      opt('--session-timeout <s>', 'end every session after this long, seconds')
        .argParser(int(10, 7 * 86400))
        .default(86400),
    )
    .addOption(
      opt('--drain-timeout <s>', 'on SIGTERM or /preStop, wait this long for peers to leave, seconds').argParser(int(0, 86400)).default(30),
    )
    .addOption(
      opt('--max-body <bytes>', 'largest accepted SDP offer, bytes')
        .argParser(int(1024, 10 * 1024 * 1024))
        .default(128 * 1024),
    )
    .addOption(
      opt('--request-timeout <s>', 'a request must arrive whole within this, seconds (slow clients are cut off)')
        .argParser(int(1, 3600))
        .default(10),
    )
    .addOption(
      opt('--max-pending <n>', 'sessions not connected yet, at most (more get 503 + Retry-After)')
        .argParser(int(1, 1_000_000))
        .default(200),
    )
    .addOption(
      opt('--post-rate <n>', 'POSTs per source address per minute (more get 429); 0 = no limit').argParser(int(0, 1_000_000)).default(600),
    )
    .addOption(
      opt('--supervise [bool]', 'run the instance in a child process and start it again when it dies (e.g. a wedged media engine)')
        .argParser(bool)
        .default(false),
    )
    .showHelpAfterError();
}

interface RawOptions {
  config?: string;
  debugRemoteManagement: boolean;
  logLevel: LogLevel;
  host: string;
  port: number;
  privatePort: number;
  privateHost: string;
  corsDomain: string;
  stun?: string;
  turn?: string[];
  turnSecret?: string;
  turnTtl: number;
  turnUsername?: string;
  turnPassword?: string;
  certFile?: string;
  keyFile?: string;
  publicIp?: string;
  auth: boolean;
  debug: boolean;
  redis?: string;
  nats?: string[];
  rtcPortRange?: { begin: number; end: number };
  rtcUdpPort?: number;
  rtcBindAddress?: string;
  maxVideoBitrate: number;
  keyframeInterval: number;
  speakerThreshold: number;
  mediaTimeout: number;
  sessionTimeout: number;
  maxBody: number;
  requestTimeout: number;
  supervise: boolean;
  maxPending: number;
  postRate: number;
  drainTimeout: number;
  jwtSecret?: string;
  webhookUrl?: string[];
  webhookSecret?: string;
  logPretty: boolean;
}

function readPem(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${option}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Reads and checks the pair at start, so a bad file is named now, not at the first TLS handshake. */
function readTls(certFile: string, keyFile: string): { cert: Buffer; key: Buffer } {
  const cert = readPem('--cert-file', certFile);
  const key = readPem('--key-file', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new ConfigError(`--cert-file: ${certFile} is not a PEM certificate`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch {
    throw new ConfigError(`--key-file: ${keyFile} is not a PEM private key (unencrypted)`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new ConfigError(`--key-file: ${keyFile} does not match the certificate of --cert-file`);
  return { cert, key };
}

/** TURN takes either the REST API secret or a username and password, never both; the secret never appears in a message. */
function checkTurn(o: RawOptions): void {
  const password = o.turnUsername !== undefined || o.turnPassword !== undefined;
  if (o.turnSecret !== undefined) {
    if (!o.turn) throw new ConfigError('--turn-secret needs --turn (the TURN server URLs the credentials are for)');
    if (password)
      throw new ConfigError('--turn-secret and --turn-username/--turn-password exclude each other: give one way to authenticate');
    if (o.turnSecret.length < 16) throw new ConfigError('--turn-secret must be at least 16 characters');
    return;
  }
  if (password && !o.turn) throw new ConfigError('--turn-username and --turn-password need --turn');
  if (o.turn && (!o.turnUsername || !o.turnPassword)) {
    throw new ConfigError('--turn needs --turn-secret (short-lived credentials), or --turn-username and --turn-password');
  }
}

/** The value a config-file key holds, as the flag's parser takes it (lists joined by commas). */
function fileText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string' || typeof v === 'number')) return value.join(',');
  return undefined;
}

/**
 * Applies the YAML file at `path` to every option the command line and environment left at
 * its default (file < env < flag). Keys are the long flag names without `--`.
 */
function applyFile(cmd: Command, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`--config: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    // the parser's message locates the error; it quotes no value
    throw new ConfigError(`--config: ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return; // an empty file
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`--config: ${path} must be a mapping of option: value`);
  const byKey = new Map(
    cmd.options.filter((o) => o.long && o.long !== '--config' && o.long !== '--version').map((o) => [o.long!.slice(2), o]),
  );
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const option = byKey.get(key);
    if (!option) {
      const kebab = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/_/g, '-');
      const hint = byKey.has(kebab) ? ` (did you mean ${kebab}?)` : '';
      throw new ConfigError(`${key}: unknown key in ${path}${hint}; keys are the long option names without --, e.g. private-port`);
    }
    const name = option.attributeName();
    const source = cmd.getOptionValueSource(name);
    if (source !== undefined && source !== 'default') continue; // a flag or the environment wins
    const shown = SECRET.has(name) ? '' : ` ${JSON.stringify(value)}`;
    const raw = fileText(value);
    if (raw === undefined) throw new ConfigError(`${key}:${shown} in ${path}: must be a string, number, boolean or list of strings`);
    let parsed: unknown = raw;
    if (option.parseArg) {
      try {
        parsed = option.parseArg(raw, undefined);
      } catch (err) {
        if (err instanceof InvalidArgumentError) throw new ConfigError(`${key}:${shown} in ${path}: ${err.message}`);
        throw err;
      }
    }
    cmd.setOptionValueWithSource(name, parsed, 'config');
  }
}

/**
 * The unprefixed names read before the WEEVER_ prefix (docs/protocol.md, "Configuration"):
 * a fixed, historical list — an option added later never had one.
 */
const LEGACY_ENV = [
  'HOST',
  'PORT',
  'PRIVATE_PORT',
  'PRIVATE_HOST',
  'CORS_DOMAIN',
  'STUN',
  'TURN',
  'TURN_SECRET',
  'TURN_TTL',
  'TURN_USERNAME',
  'TURN_PASSWORD',
  'CERT_FILE',
  'KEY_FILE',
  'PUBLIC_IP',
  'AUTH',
  'DEBUG',
  'LOG_PRETTY',
  'JWT_SECRET',
  'REDIS',
  'NATS',
  'RTC_PORT_RANGE',
  'RTC_UDP_PORT',
  'RTC_BIND_ADDRESS',
  'MAX_VIDEO_BITRATE',
  'KEYFRAME_INTERVAL',
  'SPEAKER_THRESHOLD',
  'MEDIA_TIMEOUT',
  'SESSION_TIMEOUT',
  'DRAIN_TIMEOUT',
  'MAX_BODY',
  'REQUEST_TIMEOUT',
  'MAX_PENDING',
  'POST_RATE',
  'SUPERVISE',
  'LOG_LEVEL',
];

/** Old name → new name, for the migration warning and table. */
export function legacyEnvNames(): Map<string, string> {
  return new Map(LEGACY_ENV.map((old) => [old, ENV_PREFIX + old]));
}

/**
 * The old, unprefixed variables that are set in `env`, with their new names: they are not read
 * any more (generic names such as DEBUG or PORT are set by other tools). Names only, never a value.
 */
export function legacyEnvSet(env: NodeJS.ProcessEnv): { old: string; new: string }[] {
  return [...legacyEnvNames()].filter(([old]) => env[old] !== undefined).map(([old, now]) => ({ old, new: now }));
}

/** The raw values of the SECRET options in argv and env (`--flag value`, `--flag=value`, the variable). */
function secretValues(cmd: Command, argv: string[], env: NodeJS.ProcessEnv): string[] {
  const values: string[] = [];
  for (const o of cmd.options) {
    if (!SECRET.has(o.attributeName())) continue;
    const fromEnv = o.envVar ? env[o.envVar] : undefined;
    if (fromEnv) values.push(fromEnv);
    argv.forEach((a, i) => {
      if (a === o.long && argv[i + 1]) values.push(argv[i + 1]!);
      else if (a.startsWith(`${o.long}=`) && a.length > o.long!.length + 1) values.push(a.slice(o.long!.length + 1));
    });
  }
  return values;
}

/** Parses argv (without node and script), the environment and the --config file into a Config. */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): Config {
  const cmd = buildCommand().exitOverride();
  // commander quotes a refused value; a secret's (or a URL's password) must not reach the terminal or a log.
  const secrets = secretValues(cmd, argv, env);
  cmd.configureOutput({
    outputError: (str, write) => write(secrets.reduce((text, v) => text.split(v).join('<redacted>'), str)),
  });
  // commander reads process.env for .env(); pass ours through for tests.
  const saved = process.env;
  process.env = env;
  try {
    cmd.parse(argv, { from: 'user' });
  } finally {
    process.env = saved;
  }
  const file = cmd.opts<RawOptions>().config;
  if (file !== undefined) applyFile(cmd, file);
  const o = cmd.opts<RawOptions>();
  if (Boolean(o.certFile) !== Boolean(o.keyFile)) throw new ConfigError('--cert-file and --key-file must be given together');
  if (o.rtcPortRange && o.rtcUdpPort) throw new ConfigError('--rtc-port-range and --rtc-udp-port exclude each other');
  checkTurn(o);
  if (o.turnSecret === undefined && cmd.getOptionValueSource('turnTtl') !== 'default') {
    throw new ConfigError('--turn-ttl needs --turn-secret (long-term credentials do not expire)');
  }
  if (o.debugRemoteManagement && !o.debug) throw new ConfigError('--debug-remote-management needs --debug');
  if (o.jwtSecret !== undefined && !o.auth) throw new ConfigError('--jwt-secret needs --auth');
  if (o.jwtSecret !== undefined && o.jwtSecret.length < 32) throw new ConfigError('--jwt-secret must be at least 32 characters');
  if (o.webhookUrl !== undefined && o.webhookSecret === undefined) throw new ConfigError('--webhook-url needs --webhook-secret');
  if (o.webhookSecret !== undefined && o.webhookUrl === undefined) throw new ConfigError('--webhook-secret needs --webhook-url');
  if (o.webhookSecret !== undefined && o.webhookSecret.length < 32)
    throw new ConfigError('--webhook-secret must be at least 32 characters');
  if (o.port !== 0 && o.port === o.privatePort) throw new ConfigError('--private-port must differ from --port');
  const config: Config = {
    host: o.host,
    port: o.port,
    privatePort: o.privatePort,
    privateHost: o.privateHost,
    corsDomain: o.corsDomain,
    auth: o.auth,
    debug: o.debug,
    debugRemoteManagement: o.debugRemoteManagement,
    logLevel: o.logLevel,
    maxVideoBitrate: o.maxVideoBitrate,
    keyframeIntervalMs: o.keyframeInterval * 1000,
    speakerThresholdDbov: o.speakerThreshold,
    mediaTimeoutMs: o.mediaTimeout * 1000,
    connectTimeoutMs: 15_000,
    answerTimeoutMs: 15_000,
    sessionTimeoutMs: o.sessionTimeout * 1000,
    maxBodyBytes: o.maxBody,
    requestTimeoutMs: o.requestTimeout * 1000,
    supervise: o.supervise,
    maxPendingSessions: o.maxPending,
    postRatePerMinute: o.postRate,
    drainTimeoutMs: o.drainTimeout * 1000,
    logPretty: o.logPretty,
  };
  if (o.stun) config.stun = o.stun;
  if (o.turn) {
    config.turn = {
      urls: o.turn,
      auth:
        o.turnSecret !== undefined
          ? { kind: 'secret', secret: o.turnSecret, ttlSeconds: o.turnTtl }
          : { kind: 'password', username: o.turnUsername!, credential: o.turnPassword! },
    };
  }
  if (o.certFile && o.keyFile) config.tls = readTls(o.certFile, o.keyFile);
  if (o.publicIp) config.publicIp = o.publicIp;
  if (o.rtcPortRange) config.rtcPortRange = o.rtcPortRange;
  if (o.rtcUdpPort) config.rtcUdpPort = o.rtcUdpPort;
  if (o.rtcBindAddress) config.rtcBindAddress = o.rtcBindAddress;
  if (o.redis) config.redis = o.redis;
  if (o.jwtSecret) config.jwtSecret = new TextEncoder().encode(o.jwtSecret);
  if (o.nats) config.nats = o.nats;
  if (o.webhookUrl && o.webhookSecret) config.webhooks = { urls: o.webhookUrl, secret: o.webhookSecret };
  return config;
}
