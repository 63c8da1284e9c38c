import type { AppConfig, ModuleName } from '../config';
import type { Logger } from '../log';
import type { RunScratch } from '../modules/types';
import type { ObjectStore } from '../sink/types';
import { isJournalKey } from './journal';
import { scratchPrefixFor } from './layout';

/** A module's scratch objects in the store: `<prefix>/_state/<module>/<runId>/<name>` (see RunScratch). */
export function runScratch(store: ObjectStore, config: AppConfig, module: ModuleName): RunScratch {
  const prefix = scratchPrefixFor(config, module);
  const keyOf = (runId: string, name: string) => {
    if (
      !/^[A-Za-z0-9._-]+$/.test(runId) ||
      !/^[A-Za-z0-9._-]+$/.test(name) ||
      runId.startsWith('.') ||
      /^journal-\d+\.json$/.test(name)
    ) {
      throw new Error(`scratch object names must be plain file names, got '${runId}/${name}'`);
    }
    return `${prefix}${runId}/${name}`;
  };
  return {
    putJson: async (runId, name, value) => {
      await store.putJson(keyOf(runId, name), value);
    },
    getJson: (runId, name) => store.getJson(keyOf(runId, name)),
    describe: (runId, name) => store.describe(keyOf(runId, name)),
  };
}

/**
 * Deletes the scratch objects of every run but `keep` (the committed run, whose objects the next run reads, and
 * the run in progress). Best effort: what is left is only unreferenced bytes, removed by the next call.
 */
export async function dropScratchExcept(
  store: ObjectStore,
  config: AppConfig,
  module: ModuleName,
  keep: readonly (string | undefined)[],
  logger?: Logger,
): Promise<number> {
  const prefix = scratchPrefixFor(config, module);
  try {
    // Journal segments share the run folders; they are the journal's to remove (export/journal.ts).
    const keys = (await store.list(prefix)).filter(
      (k) =>
        !isJournalKey(k) && !keep.some((runId) => runId !== undefined && k.startsWith(`${prefix}${runId}/`)),
    );
    if (keys.length) await store.delete(keys);
    return keys.length;
  } catch (err) {
    logger?.warn('could not remove scratch objects of earlier runs; the next run tries again', {
      prefix,
      error: (err as Error).message,
    });
    return 0;
  }
}
