/**
 * The `control` data-channel protocol (contract §3): UTF-8 text, a command word,
 * then one space and the payload if any.
 */

export const MAX_CONTROL_MESSAGE = 64 * 1024;

export type ClientCommand = { cmd: 'SDP_OFFER'; sdp: string } | { cmd: 'SDP_ANSWER'; sdp: string } | { cmd: 'STOP' };

export type ParseResult = { ok: true; command: ClientCommand } | { ok: false; error: string };

export function parseClientMessage(msg: string | Buffer | ArrayBuffer): ParseResult {
  const size = typeof msg === 'string' ? Buffer.byteLength(msg) : msg.byteLength;
  if (size > MAX_CONTROL_MESSAGE) return { ok: false, error: `message too large (${size} bytes, limit ${MAX_CONTROL_MESSAGE})` };
  if (typeof msg !== 'string') return { ok: false, error: 'binary messages are not supported; send UTF-8 text' };
  const space = msg.indexOf(' ');
  const word = space < 0 ? msg : msg.slice(0, space);
  const payload = space < 0 ? '' : msg.slice(space + 1);
  switch (word) {
    case 'SDP_OFFER':
    case 'SDP_ANSWER':
      if (payload.trim() === '') return { ok: false, error: `${word} needs an SDP payload` };
      return { ok: true, command: { cmd: word, sdp: payload } };
    case 'STOP':
      return { ok: true, command: { cmd: 'STOP' } };
    default:
      return { ok: false, error: `unknown command ${JSON.stringify(word.slice(0, 32))}` };
  }
}

export const errorMessage = (reason: string): string => `ERROR ${reason}`;
