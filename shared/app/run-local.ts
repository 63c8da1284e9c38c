import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { AppConfig, ModuleName } from '../config';
import { runExport, type ProgressEvent } from '../export/engine';
import { thisProcess } from '../export/lease';
import { stateKeyFor } from '../export/layout';
import { StateRef } from '../export/state';
import type { ExportInvocation, RunResult } from '../export/types';
import type { Logger } from '../log';
import { getModule } from '../modules';
import type { TimeWindow } from '../modules/types';
import type { QualysClient } from '../qualys/types';
import type { ObjectStore } from '../sink/types';
import { sleep } from '../sleep';

export interface LocalRunOptions {
  module: ModuleName;
  config: AppConfig;
  client: QualysClient;
  store: ObjectStore;
  runId?: string;
  /** Start a backfill run of exactly this window (modules that read by time window). */
  backfill?: TimeWindow;
  logger?: Logger;
  onProgress?: (p: ProgressEvent) => void;
  /** Ctrl-C: the run stops at the next page boundary with its checkpoint written and its lease released. */
  signal?: AbortSignal;
  /** Upper bound of engine invocations, a guard against a pager that never finishes. */
  maxInvocations?: number;
  /** Take the module over from a live lease (--take-over). */
  takeOver?: boolean;
}

/** What every lease this process takes starts with: `cli:<host>:<pid>:`. */
export function localOwnerPrefix(): string {
  return `cli:${hostname()}:${process.pid}:`;
}

/** Who holds the lease for a local run: this host and process, unique per call. */
export function localOwner(): string {
  return `${localOwnerPrefix()}${randomBytes(3).toString('hex')}`;
}

/**
 * Runs one module to the end outside Lambda: there is no 15-minute limit, so the engine gets a far deadline
 * and the client sleeps through rate-limit waits up to QEXPORT_MAX_WAIT_SECONDS. One owner holds the module's lease
 * across the invocations; an interrupted run (Ctrl-C, crash) resumes from its checkpoint the next time, because the
 * engine always resumes a run that is in progress. A longer wait ends the run here with `continue` and its
 * `waitSeconds` (the CLI says when to resume) and gives the lease up, so the same command can resume it then.
 */
export async function runModuleLocally(opts: LocalRunOptions): Promise<RunResult> {
  const module = getModule(opts.module);
  const max = opts.maxInvocations ?? 10_000;
  const owner = localOwner();
  let result: RunResult | undefined;
  for (let i = 0; i < max; i++) {
    const invocation: ExportInvocation =
      result?.runId !== undefined
        ? { owner, continuation: { runId: result.runId } }
        : { owner, runId: opts.runId, backfill: opts.backfill, takeOver: opts.takeOver };
    result = await runExport({
      module,
      config: opts.config,
      client: opts.client,
      store: opts.store,
      invocation,
      deadline: () => Date.now() + 24 * 3600_000,
      logger: opts.logger,
      onProgress: opts.onProgress,
      signal: opts.signal,
      // A lease this process holds names it: if it dies, the next local start on this host takes over at once.
      local: thisProcess(),
    });
    if (result.status !== 'continue' || opts.signal?.aborted) break;
    if (result.waitSeconds && result.waitSeconds > opts.config.http.maxWaitSeconds) {
      await releaseLease(opts.store, stateKeyFor(opts.config, opts.module), opts.module, owner);
      break;
    }
    if (result.waitSeconds) await sleep(result.waitSeconds * 1000);
  }
  if (!result) throw new Error('maxInvocations must be at least 1');
  return result;
}

/** Gives up `owner`'s lease on the module, if it still holds it (compare-and-swap: a newer writer wins). */
async function releaseLease(
  store: ObjectStore,
  key: string,
  module: ModuleName,
  owner: string,
): Promise<void> {
  const ref = await StateRef.read(store, key, getModule(module));
  if (ref.state.lease?.owner !== owner) return;
  delete ref.state.lease;
  await ref.save();
}
