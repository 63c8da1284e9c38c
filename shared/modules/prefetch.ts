import type { QualysResponse } from '../qualys/types';

/**
 * Ordered fetch-ahead for index-addressed pages (PCI offsets, CertView page numbers): keeps up to `width`
 * requests in flight but yields results strictly in index order, and stops at the first page that ends the
 * listing (pages fetched speculatively beyond it are discarded, never yielded).
 */
export async function* prefetchOrdered<T>(opts: {
  start: number;
  width: number;
  fetchAt: (k: number) => Promise<T>;
  /** May page k be requested now? Called with increasing k. */
  mayFetch: (k: number) => boolean;
  isLast: (result: T, k: number) => boolean;
  /**
   * A page after which the listing probably ends (a short page): no page beyond the next one is requested
   * speculatively, so a listing that ends as expected costs no call past the page that proves its end.
   */
  isShort?: (result: T, k: number) => boolean;
}): AsyncGenerator<{ k: number; result: T }> {
  const inflight = new Map<number, Promise<T>>();
  let next = opts.start;
  let k = opts.start;
  /** No speculative request beyond this page (set by a short page). */
  let cap = Number.POSITIVE_INFINITY;
  /** Fills the window; page `due` (the one to be consumed next) is always requested. */
  const topUp = (due: number) => {
    while (
      inflight.size < Math.max(1, opts.width) &&
      (next === due || (next <= cap && opts.mayFetch(next)))
    ) {
      const p = opts.fetchAt(next);
      p.catch(() => undefined); // observed later, in order; avoid unhandled rejections for discarded pages
      inflight.set(next, p);
      next++;
    }
  };
  for (;;) {
    topUp(k);
    const pending = inflight.get(k);
    if (!pending) return;
    const result = await pending;
    inflight.delete(k);
    // A full page after a short one: the listing goes on after all; fetch ahead again.
    cap = opts.isShort?.(result, k) ? Math.min(cap, k + 1) : Number.POSITIVE_INFINITY;
    // Refill before handing the page over, so `width` requests stay in flight while the consumer works.
    if (!opts.isLast(result, k)) {
      const before = next;
      topUp(k + 1);
      if (next > before) await letRequestLeave();
    }
    yield { k, result };
    if (opts.isLast(result, k)) return;
    k++;
  }
}

/**
 * Lets a request just handed to the client actually leave before the caller starts synchronous work (a parse,
 * or handing a page to the engine, which serialises it at once): the client reaches `fetch` only after a few
 * promise steps, which would otherwise wait for that work to finish.
 */
export const letRequestLeave = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Lets go of a page's body (1–2 MB of text) once it is parsed. It would otherwise stay reachable through the
 * settled promise and the generator's saved registers until well after its page is written: long enough to be
 * moved to V8's old large-object space, which only a full collection empties (issue 14: peak memory).
 */
export function dropBody(res: QualysResponse): void {
  res.text = '';
}

/** A string that shares no memory with the one it was cut from (V8 keeps the parent of a substring alive). */
export const copyString = (s: string): string => JSON.parse(JSON.stringify(s)) as string;
