/**
 * CORS rule (docs/protocol.md, configuration): any localhost origin (any scheme and port) and any
 * origin whose host ends with `.<cors-domain>`.
 */
export function corsAllows(origin: string, corsDomain: string): boolean {
  let host: string;
  try {
    host = new URL(origin).hostname;
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith(`.${corsDomain.toLowerCase()}`);
}
