import type { AppConfig, ModuleName } from '../config';
import { runExport } from '../export/engine';
import type { RunResult } from '../export/types';
import type { Logger } from '../log';
import { getModule } from '../modules';
import type { QualysClient } from '../qualys/types';
import type { ObjectStore } from '../sink/types';

export interface LocalRunOptions {
  module: ModuleName;
  config: AppConfig;
  client: QualysClient;
  store: ObjectStore;
  runId?: string;
  logger?: Logger;
  onProgress?: (p: {
    module: ModuleName;
    pages: number;
    records: number;
    parts: number;
    bytes: number;
  }) => void;
  /** Upper bound of engine invocations, a guard against a pager that never finishes. */
  maxInvocations?: number;
}

/**
 * Runs one module to the end outside Lambda: there is no 15-minute limit, so the engine gets a far deadline
 * and the client sleeps through rate-limit waits. An interrupted run (Ctrl-C, crash) resumes from its
 * checkpoint the next time, because the engine always resumes a run that is in progress.
 */
export async function runModuleLocally(opts: LocalRunOptions): Promise<RunResult> {
  const module = getModule(opts.module);
  const max = opts.maxInvocations ?? 10_000;
  let result: RunResult | undefined;
  for (let i = 0; i < max; i++) {
    result = await runExport({
      module,
      config: opts.config,
      client: opts.client,
      store: opts.store,
      invocation: result ? { continuation: { runId: result.runId } } : { runId: opts.runId },
      deadline: () => Date.now() + 24 * 3600_000,
      logger: opts.logger,
      onProgress: opts.onProgress,
    });
    if (result.status !== 'continue') return result;
    if (result.waitSeconds) await new Promise((r) => setTimeout(r, result!.waitSeconds! * 1000));
  }
  if (!result) throw new Error('maxInvocations must be at least 1');
  return result;
}
