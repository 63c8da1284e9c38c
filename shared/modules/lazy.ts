/**
 * A page's cursor must hold, for instance, every id the run has seen up to that page — a list that grows with the
 * run. Copying it into every page's cursor costs O(run size) per page (quadratic over a run) although the engine
 * serialises only the cursors it checkpoints. `lazyField` defines the field as an enumerable accessor that builds
 * the value once, when first read (JSON.stringify at a checkpoint, `prove`, a test): to the reader the cursor is
 * the plain JSON object it always was, with the keys in the same order.
 *
 * `make` must describe the state AT THIS PAGE even if it runs later, after the pager has moved on (the engine
 * reads one page ahead): capture lengths, never read live sizes.
 */
export function lazyField<T extends object>(target: T, key: string, make: () => unknown): T {
  let value: unknown;
  let made = false;
  Object.defineProperty(target, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (!made) {
        value = make();
        made = true;
      }
      return value;
    },
    set(v: unknown) {
      value = v;
      made = true;
    },
  });
  return target;
}

/**
 * Defines `key` on `target` as the items `set` holds now, in insertion order, copied only when first read: the
 * size is captured here, so the value describes this page even if the set has grown by then.
 */
export function lazySetPrefix<T extends object>(target: T, key: string, set: ReadonlySet<unknown>): T {
  const size = set.size;
  return lazyField(target, key, () => firstOf(set, size));
}

/** The first `n` items of a set, in insertion order (the set may have grown since). */
function firstOf<T>(set: ReadonlySet<T>, n: number): T[] {
  const out: T[] = new Array<T>(n);
  let i = 0;
  for (const v of set) {
    if (i === n) break;
    out[i++] = v;
  }
  out.length = i;
  return out;
}
