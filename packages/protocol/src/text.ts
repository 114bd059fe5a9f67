/**
 * UTF-8 both ways. TextEncoder and TextDecoder are global in browsers and in Node; declared
 * here so the module needs no DOM or Node types.
 */
declare const TextEncoder: new () => { encode(s: string): Uint8Array };
declare const TextDecoder: new (label: string, o: { fatal: boolean }) => { decode(b: Uint8Array): string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export const utf8Encode = (s: string): Uint8Array => encoder.encode(s);
/** Throws on bytes that are not UTF-8. */
export const utf8Decode = (b: Uint8Array): string => decoder.decode(b);
