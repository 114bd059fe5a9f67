/**
 * Keeps the engine's Track and DataChannel wrappers alive while node-datachannel still lists
 * them (issue 22: the engine's sleep calls `cleanup()`, which walks that list).
 */
import type nodeDataChannel from 'node-datachannel';

type PeerConnection = nodeDataChannel.PeerConnection;
type Track = nodeDataChannel.Track;
type DataChannel = nodeDataChannel.DataChannel;

/**
 * Track and DataChannel wrappers the binding still lists. node-datachannel 0.33.4 keeps a raw
 * pointer to every such wrapper in a static set and drops it only when the object's closed
 * callback has been delivered (or in `cleanup()`); the wrapper's destructor does not. A wrapper
 * collected before that leaves a dangling pointer, and the next `cleanup()` closes it: SIGSEGV
 * (seen on Node 24 after a few dozen sessions). So every handle stays referenced here until its
 * closed callback ran, or until `cleanup()` forgot them all.
 */
const heldHandles = new Set<Track | DataChannel>();

/** How many handles wait for their closed callback (debug, tests). */
export function heldHandleCount(): number {
  return heldHandles.size;
}

function hold<T extends Track | DataChannel>(h: T): T {
  heldHandles.add(h);
  let closed: (() => void) | undefined;
  const register = h.onClosed.bind(h);
  // Ours is the only closed callback the binding gets; the caller's runs inside it.
  override(h, 'onClosed', (cb: () => void) => {
    closed = cb;
  });
  try {
    // a closed track never calls back again (a DataChannel handed out is never closed yet)
    if (!('isClosed' in h && h.isClosed())) {
      register(() => {
        try {
          closed?.();
        } finally {
          // the binding forgets the wrapper right after this callback returns
          setImmediate(() => heldHandles.delete(h));
        }
      });
    }
  } catch {
    // already destroyed: held until the next cleanup()
  }
  return h;
}

/**
 * Makes every Track and DataChannel that `pc` hands out (added, received, created) held until
 * the binding forgot it (see `heldHandles`). Applied to each PeerConnection we create.
 */
export function holdHandles(pc: PeerConnection): PeerConnection {
  const addTrack = pc.addTrack.bind(pc);
  const onTrack = pc.onTrack.bind(pc);
  const onDataChannel = pc.onDataChannel.bind(pc);
  const createDataChannel = pc.createDataChannel.bind(pc);
  override(pc, 'addTrack', (media) => hold(addTrack(media)));
  override(pc, 'onTrack', (cb) => onTrack((t) => cb(hold(t))));
  override(pc, 'onDataChannel', (cb) => onDataChannel((dc) => cb(hold(dc))));
  override(pc, 'createDataChannel', (label, config) =>
    hold(config === undefined ? createDataChannel(label) : createDataChannel(label, config)),
  );
  return pc;
}

/** The binding's methods are read-only on the prototype: an own property of the instance shadows one. */
function override<O extends object, K extends keyof O>(o: O, key: K, fn: O[K]): void {
  Object.defineProperty(o, key, { value: fn, writable: false, enumerable: false, configurable: true });
}

/** After `cleanup()`: the binding lists no wrapper any more, each may be collected. */
export function forgetHeldHandles(): void {
  heldHandles.clear();
}
