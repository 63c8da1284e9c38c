import type { ObjectStore } from '../../shared/sink/types';

/** What a run wrote under `<prefix>/_state/` (issue 19: checkpoint size, state bytes per run). */
export interface StateWrites {
  checkpoints: number;
  /** Bytes of the largest checkpoint (the state file) written. */
  largestCheckpoint: number;
  /** Every byte written to the state file and the journal, over the run. */
  stateBytes: number;
  journalSegments: number;
}

/**
 * `inner`, counting what goes to the state file `stateKey` and to the rest of `statePrefix` (the journal, and what modules keep beside the state file). The
 * stores write one line of JSON, so its size is what was written. Used by the tests and the bench alike.
 */
export function measuringState(
  inner: ObjectStore,
  stateKey: string,
  statePrefix: string,
): { store: ObjectStore; writes: StateWrites } {
  const w: StateWrites = { checkpoints: 0, largestCheckpoint: 0, stateBytes: 0, journalSegments: 0 };
  const store: ObjectStore = {
    ...inner,
    async putJson(key, value, condition) {
      const out = await inner.putJson(key, value, condition);
      const bytes = Buffer.byteLength(JSON.stringify(value)) + 1;
      if (key === stateKey) {
        w.checkpoints++;
        w.largestCheckpoint = Math.max(w.largestCheckpoint, bytes);
        w.stateBytes += bytes;
      } else if (key.startsWith(statePrefix)) {
        w.journalSegments++;
        w.stateBytes += bytes;
      }
      return out;
    },
  };
  return { store, writes: w };
}
