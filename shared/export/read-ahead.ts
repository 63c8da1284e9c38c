/**
 * Pulls the next item of an async iterator while the consumer works on the current one, so fetching the
 * next page overlaps with serialising, compressing and uploading this one. At most `depth` items are held.
 * `return()` drops what was fetched ahead without waiting for it: the pages were not consumed, so their
 * cursors were never checkpointed and they are fetched again on resume.
 */
export function readAhead<T>(source: AsyncIterator<T>, depth = 1): AsyncIterator<T> {
  const buffer: Promise<IteratorResult<T>>[] = [];
  let finished = false;
  const pull = () => {
    if (finished) return;
    const p = source.next();
    p.then(
      (r) => {
        if (r.done) finished = true;
      },
      () => {
        finished = true;
      },
    );
    buffer.push(p);
  };
  return {
    async next() {
      if (buffer.length === 0) pull();
      const current = buffer.shift()!;
      const result = await current;
      if (!result.done) while (buffer.length < depth && !finished) pull();
      return result;
    },
    async return() {
      finished = true;
      // Do not wait for a page still in flight (it may take until the deadline): close the source once
      // it settles, in the background; its result and errors are irrelevant now.
      const pending = buffer.splice(0);
      void Promise.allSettled(pending)
        .then(() => source.return?.())
        .catch(() => undefined);
      return { done: true, value: undefined };
    },
  };
}
