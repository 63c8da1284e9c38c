import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../config';
import { ConfigError, IncompleteError, isQexportError, QexportError, ResumeLaterError } from '../errors';
import { redact, silentLogger, type Logger } from '../log';
import type { CompletenessCheck, Cursor, ModuleDef } from '../modules/types';
import type { QualysClient } from '../qualys/types';
import { openPart, type PartWriter } from '../sink/part-writer';
import type { ObjectStore, PartInfo } from '../sink/types';
import { readAhead } from './read-ahead';
import type { ExportInvocation, Manifest, RunResult, StateFile } from './types';

export interface ProgressEvent {
  module: ModuleDef['name'];
  /** Pages processed in this invocation. */
  pages: number;
  /** Records of the run so far (stored and in the open part). */
  records: number;
  parts: number;
  /** Compressed bytes stored so far in this run. */
  bytes: number;
}

export interface RunExportOptions {
  module: ModuleDef;
  config: AppConfig;
  client: QualysClient;
  store: ObjectStore;
  invocation: ExportInvocation;
  /** Epoch ms by which this invocation must have returned (Lambda: start + remaining time). */
  deadline: () => number;
  now?: () => Date;
  logger?: Logger;
  onProgress?: (p: ProgressEvent) => void;
  /** Time kept in hand to close the open part and checkpoint. Default DEFAULT_SAFETY_MS. */
  safetyMs?: number;
}

/** How many times a run that could not be proven complete is read again before it fails. */
export const MAX_REREADS = 2;

/** Time an invocation keeps in hand to close its open part and write the checkpoint. */
export const DEFAULT_SAFETY_MS = 30_000;

export function newRunId(at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

export function stateKeyFor(config: AppConfig, module: string): string {
  return withPrefix(config, `_state/${module}.json`);
}

function withPrefix(config: AppConfig, rel: string): string {
  return config.output.prefix ? `${config.output.prefix}/${rel}` : rel;
}

function readState(raw: unknown, key: string, module: string): StateFile {
  if (raw === undefined) return { module: module as StateFile['module'] };
  if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as StateFile).module !== module) {
    throw new QexportError(
      'state',
      `state file ${key} is not a ${module} state object; move it aside to start over`,
    );
  }
  return raw as StateFile;
}

/** 'pci.totalCount failed (expected 30, actual 27): distinct scans written vs the final totalCount' */
export function describeCheck(c: CompletenessCheck): string {
  const nums =
    c.expected !== undefined || c.actual !== undefined
      ? ` (expected ${c.expected ?? '?'}, actual ${c.actual ?? '?'})`
      : '';
  return `${c.name} ${c.outcome}${nums}${c.detail ? `: ${c.detail}` : ''}`;
}

function errorInfo(err: unknown): { code: string; message: string } {
  const message = redact(err instanceof Error ? err.message : String(err));
  return { code: isQexportError(err) ? err.code : 'internal', message };
}

/**
 * Drives one module's pager into the object store for at most one invocation. Pages are atomic: a part holds
 * whole pages, and the checkpoint (cursor + parts) is written only after the part holding those pages has
 * been stored, so a resumed run continues exactly after the last stored page.
 */
export async function runExport(opts: RunExportOptions): Promise<RunResult> {
  const { module, config, client, store, deadline } = opts;
  const now = opts.now ?? (() => new Date());
  const logger = (opts.logger ?? silentLogger).child({ module: module.name });
  const safetyMs = opts.safetyMs ?? DEFAULT_SAFETY_MS;
  const stateKey = stateKeyFor(config, module.name);
  const state = readState(await store.getJson(stateKey), stateKey, module.name);
  const { continuation } = opts.invocation;

  let run = state.inProgress;
  if (run) {
    const asked = continuation?.runId ?? opts.invocation.runId;
    if (asked && asked !== run.runId) {
      throw new ConfigError(
        `run ${asked} was requested but run ${run.runId} of ${module.name} is in progress (${stateKey}); ` +
          'continue that run first, or move the state file aside to abandon it',
      );
    }
    run.invocations++;
    logger.info('resuming run', { runId: run.runId, parts: run.parts.length, records: run.records });
  } else {
    if (continuation) {
      if (state.committed?.runId === continuation.runId) {
        // A retried continuation of a run that already completed: nothing left to do.
        return {
          status: 'done',
          module: module.name,
          runId: continuation.runId,
          records: 0,
          parts: 0,
          reason: 'already complete',
        };
      }
      throw new ConfigError(
        `continuation names run ${continuation.runId}, but no such run of ${module.name} is in progress`,
      );
    }
    const startedAt = now();
    const startCursor = module.start({ config, now: startedAt, committed: state.committed });
    run = {
      runId: opts.invocation.runId ?? newRunId(startedAt),
      dt: startedAt.toISOString().slice(0, 10),
      startedAt: startedAt.toISOString(),
      startCursor,
      cursor: startCursor,
      parts: [],
      records: 0,
      apiCalls: 0,
      retries: 0,
      invocations: 1,
    };
    state.inProgress = run;
    await store.putJson(stateKey, state);
    logger.info('started run', { runId: run.runId, range: module.describe(startCursor) });
  }

  const active = run;
  const dataDir = withPrefix(config, `${module.name}/dt=${active.dt}/run=${active.runId}`);
  const statsBefore = client.stats();
  const storedBytes = () => active.parts.reduce((n, p) => n + p.bytes, 0);
  let part: PartWriter | undefined;
  let lastCursor: Cursor = active.cursor;
  let pages = 0;
  let finished = false;
  let stopReason: string | undefined;
  let waitMs = 0;
  let failure: unknown;

  const progress = () =>
    opts.onProgress?.({
      module: module.name,
      pages,
      records: active.records + (part?.records ?? 0),
      parts: active.parts.length,
      bytes: storedBytes(),
    });

  const checkpoint = async () => {
    const stats = client.stats();
    active.apiCalls += stats.calls - statsBefore.calls;
    active.retries += stats.retries - statsBefore.retries;
    statsBefore.calls = stats.calls;
    statsBefore.retries = stats.retries;
    await store.putJson(stateKey, state);
  };

  /** Stores the open part, then records it and the cursor after its last page. */
  const closePart = async () => {
    if (part) {
      const info: PartInfo = await part.close();
      part = undefined;
      active.parts.push(info);
      active.records += info.records;
      logger.info('part stored', { key: info.key, records: info.records, bytes: info.bytes });
    }
    active.cursor = lastCursor;
  };

  // Fetch page k+1 while page k is serialised, compressed and uploaded.
  const iterator = readAhead(module.pages(client, active.cursor, config)[Symbol.asyncIterator]());
  try {
    for (;;) {
      if (deadline() - now().getTime() < safetyMs) {
        stopReason = 'time budget of this invocation used';
        break;
      }
      const next = await iterator.next();
      if (next.done) {
        finished = true;
        break;
      }
      const page = next.value;
      if (page.records.length) {
        part ??= openPart(
          store,
          `${dataDir}/part-${String(active.parts.length).padStart(5, '0')}.ndjson.gz`,
          config.output.gzipLevel,
        );
        await part.writePage(page.records);
      }
      lastCursor = page.cursor;
      pages++;
      if (page.done) {
        finished = true;
        break;
      }
      if (
        part &&
        (part.rawBytes >= config.output.partMaxBytes || part.records >= config.output.partMaxRecords)
      ) {
        await closePart();
        await checkpoint();
      }
      progress();
    }
  } catch (err) {
    if (err instanceof ResumeLaterError) {
      stopReason = err.message;
      waitMs = err.waitMs ?? 0;
    } else failure = err;
  } finally {
    // Stop any fetch-ahead the pager has in flight.
    await iterator.return?.().catch(() => undefined);
  }

  // The pages in the open part are complete: store them so no fetched work is lost.
  try {
    await closePart();
  } catch (err) {
    part?.abort(err as Error);
    part = undefined;
    failure ??= err;
    finished = false;
  }
  progress();

  let completeness: CompletenessCheck[] = [];
  if (finished && !failure) {
    try {
      completeness = await module.prove(active.cursor, { client, config, records: active.records });
      const failedChecks = completeness.filter((c) => c.outcome === 'failed');
      if (failedChecks.length) {
        throw new IncompleteError(
          `${module.name} run ${active.runId} could not be proven complete: ${failedChecks.map(describeCheck).join('; ')}`,
          { checks: completeness, reread: true },
        );
      }
    } catch (err) {
      failure = err;
      finished = false;
    }
  }

  if (finished && !failure) {
    const endedAt = now().toISOString();
    const stats = client.stats();
    active.apiCalls += stats.calls - statsBefore.calls;
    active.retries += stats.retries - statsBefore.retries;
    const manifest: Manifest = {
      module: module.name,
      runId: active.runId,
      dt: active.dt,
      range: module.describe(active.startCursor),
      parts: active.parts,
      totals: {
        records: active.records,
        parts: active.parts.length,
        bytes: storedBytes(),
        rawBytes: active.parts.reduce((n, p) => n + p.rawBytes, 0),
      },
      kind: module.kind(active.startCursor),
      completeness,
      apiCalls: active.apiCalls,
      retries: active.retries,
      invocations: active.invocations,
      startedAt: active.startedAt,
      endedAt,
      formatVersion: 2,
    };
    const manifestKey = `${dataDir}/_manifest.json`;
    await store.putJson(manifestKey, manifest);
    const committed = {
      ...module.commit(lastCursor, state.committed),
      runId: active.runId,
      completedAt: endedAt,
    };
    await store.putJson(stateKey, { module: module.name, committed } satisfies StateFile);
    logger.info('run complete', { runId: active.runId, records: active.records, parts: active.parts.length });
    return {
      status: 'done',
      module: module.name,
      runId: active.runId,
      records: active.records,
      parts: active.parts.length,
      manifestKey,
    };
  }

  if (failure instanceof IncompleteError && failure.reread && (active.rereads ?? 0) < MAX_REREADS) {
    // The listing moved while it was read: read the whole run again under the same run id. Its parts are
    // rewritten from part-00000 on; the manifest lists only the new ones.
    active.rereads = (active.rereads ?? 0) + 1;
    active.cursor = active.startCursor;
    active.parts = [];
    active.records = 0;
    active.lastError = { ...errorInfo(failure), at: now().toISOString() };
    await checkpoint();
    logger.warn('run not proven complete; reading it again', {
      runId: active.runId,
      reread: active.rereads,
      reason: failure.message,
    });
    return {
      status: 'continue',
      module: module.name,
      runId: active.runId,
      cursor: active.cursor,
      records: 0,
      parts: 0,
      reason: `re-reading the run (${active.rereads} of ${MAX_REREADS}): ${failure.message}`,
      waitSeconds: 0,
    };
  }

  if (failure) {
    const error = errorInfo(failure);
    active.lastError = { ...error, at: now().toISOString() };
    await checkpoint();
    logger.error('run failed; checkpoint kept', { runId: active.runId, error });
    return {
      status: 'failed',
      module: module.name,
      runId: active.runId,
      cursor: active.cursor,
      records: active.records,
      parts: active.parts.length,
      reason: error.message,
      error,
    };
  }

  await checkpoint();
  logger.info('invocation ends; run continues', { runId: active.runId, reason: stopReason });
  return {
    status: 'continue',
    module: module.name,
    runId: active.runId,
    cursor: active.cursor,
    records: active.records,
    parts: active.parts.length,
    reason: stopReason,
    // The API asked for a wait longer than this invocation had left: the loop waits before continuing.
    waitSeconds: Math.ceil(waitMs / 1000),
  };
}
