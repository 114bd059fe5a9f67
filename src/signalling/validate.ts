/**
 * Room and id validation (contract §1). Runs before any state, bus subject or
 * media object is touched, so a bad name can never reach Redis keys or NATS subjects.
 */

export const MAX_NAME_LENGTH = 128;

/** Returns null when valid, else a one-line reason naming the rule that failed. */
export function checkName(what: string, value: string): string | null {
  if (value.length === 0) return `${what} must not be empty`;
  if (value.length > MAX_NAME_LENGTH) return `${what} must be at most ${MAX_NAME_LENGTH} characters`;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return `${what} must be printable ASCII (0x21-0x7E) without spaces`;
    if (c === 0x2e) return `${what} must not contain '.' (NATS subject separator)`;
    if (c === 0x2a || c === 0x3e) return `${what} must not contain '*' or '>' (NATS wildcards)`;
  }
  return null;
}

/** `<id>+<anything>` → `<id>`; a full id without `+` is its own id. */
export function idOf(fullId: string): string {
  const plus = fullId.indexOf('+');
  return plus < 0 ? fullId : fullId.slice(0, plus);
}

/** The user a publisher id belongs to: `alice-screen` → `alice`. */
export function ownerOf(id: string): string {
  return id.endsWith('-screen') ? id.slice(0, -'-screen'.length) : id;
}

/** Checks room and full id; returns null or the reason. */
export function checkRoomAndFullId(room: string, fullId: string): string | null {
  return checkName('room', room) ?? checkName('full id', fullId) ?? checkName('id', idOf(fullId));
}
