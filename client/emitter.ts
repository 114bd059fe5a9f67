/** A small typed event emitter: `on('stream', (e) => …)` knows the payload of 'stream'. */

export type Listener<T> = (event: T) => void;

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(type, listener);
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.listeners.get(type)?.delete(listener as Listener<never>);
  }

  /** Like `on`, for the next event only. */
  once<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    const off = this.on(type, (e) => {
      off();
      listener(e);
    });
    return off;
  }

  protected emit<K extends keyof Events>(type: K, event: Events[K]): void {
    for (const l of [...(this.listeners.get(type) ?? [])]) {
      try {
        (l as Listener<Events[K]>)(event);
      } catch (err) {
        // a listener's bug must not break the protocol handling that emitted the event
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
