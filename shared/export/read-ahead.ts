/**
 * Pulls the next item of an async iterator while the consumer works on the current one, so fetching the
 * next page overlaps with serialising, compressing and uploading this one. At most `depth` items are held.
 * `return()` drops what was fetched ahead: the pages were not consumed, so their cursors were never
 * checkpointed and they are fetched again on resume.
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
      // Let in-flight pulls settle (their errors are irrelevant now), then close the source.
      await Promise.allSettled(buffer.splice(0));
      await source.return?.();
      return { done: true, value: undefined };
    },
  };
}
