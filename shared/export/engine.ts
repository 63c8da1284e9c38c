import { randomBytes } from 'node:crypto';
import type { AppConfig } from '../config';
import { ConfigError, IncompleteError, isQexportError, ResumeLaterError } from '../errors';
import { redact, silentLogger, type Logger } from '../log';
import type { CompletenessCheck, Cursor, ModuleDef, Page } from '../modules/types';
import {
  addDrift,
  driftChecker,
  emptyDrift,
  mergeDrift,
  type DriftCheck,
  type DriftSummary,
} from '../schema/drift';
import type { QualysClient } from '../qualys/types';
import { openPart, type PartWriter } from '../sink/part-writer';
import type { ObjectStore } from '../sink/types';
import { removeJournals, RunJournal, upgradeLegacyRun } from './journal';
import { holderState, leaseHeldMessage } from './lease';
import { checkRunSettings, runSettings } from './settings';
import { catalogManifestKeyFor, manifestKeyFor, partKeyFor, runDirFor, stateKeyFor } from './layout';
import { checkRunId } from './run-id';
import { dropScratchExcept, runScratch } from './scratch';
import { LeaseLostError, leaseLive, StateRef } from './state';
import { referenceTimeFor } from './window';
import {
  MAX_REASON,
  type ExportInvocation,
  type Lease,
  type LeaseProcess,
  type Manifest,
  type RunInProgress,
  type RunResult,
  type StateFile,
} from './types';

export interface ProgressEvent {
  module: ModuleDef['name'];
  /** Pages processed in this invocation. */
  pages: number;
  /** Records of the run so far (stored and in the open part). */
  records: number;
  parts: number;
  /** Compressed bytes stored so far in this run. */
  bytes: number;
  /** Records the whole listing holds, when the API says. */
  total?: number;
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
  /** Stops the run at the next page boundary (Ctrl-C): the open part is stored and the checkpoint written. */
  signal?: AbortSignal;
  /**
   * This process, when it runs on a machine of its own (the CLI, not Lambda): its lease records it, and a lease
   * held by a process of this host that no longer runs is taken over at once (see lease.ts).
   */
  local?: LeaseProcess;
}

/** How many times a run that could not be proven complete is read again before it fails. */
export const MAX_REREADS = 2;

/** Time an invocation keeps in hand to close its open part and write the checkpoint. */
export const DEFAULT_SAFETY_MS = 30_000;

/**
 * A lease lives this long past its last renewal. While an invocation runs it renews every LEASE_RENEW_MS; a
 * crashed or killed invocation blocks the module for at most this long.
 */
export const LEASE_TTL_MS = 5 * 60_000;
export const LEASE_RENEW_MS = 60_000;
/**
 * Between two invocations of one execution (Step Functions, Lambda retries with backoff) the lease is kept this
 * long past any rate-limit wait, so another execution cannot slip in between.
 */
export const LEASE_GAP_MS = 15 * 60_000;

/** A lease for `owner` until `until`, naming the local process that holds it when there is one. */
const leaseOf = (owner: string, until: Date, local: LeaseProcess | undefined): Lease => ({
  owner,
  expiresAt: until.toISOString(),
  ...(local ? { process: local } : {}),
});

export function newRunId(at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/** 'pci.totalCount failed (expected 30, actual 27): distinct scans written vs the final totalCount' */
export function describeCheck(c: CompletenessCheck): string {
  const nums =
    c.expected !== undefined || c.actual !== undefined
      ? ` (expected ${c.expected ?? '?'}, actual ${c.actual ?? '?'})`
      : '';
  return `${c.name} ${c.outcome}${nums}${c.detail ? `: ${c.detail}` : ''}`;
}

const short = (text: string) => (text.length > MAX_REASON ? `${text.slice(0, MAX_REASON - 1)}…` : text);

function errorInfo(err: unknown): { code: string; message: string } {
  const message = redact(err instanceof Error ? err.message : String(err));
  return { code: isQexportError(err) ? err.code : 'internal', message };
}

interface Deps extends Required<Pick<RunExportOptions, 'module' | 'config' | 'client' | 'store'>> {
  now: () => Date;
  logger: Logger;
  opts: RunExportOptions;
}

type PumpOutcome = { finished: true } | { finished: false; reason: string; waitMs: number };

/**
 * One invocation's part of a run, as named steps: `begin` (start or resume, under the module's lease) →
 * `pump` (pages → parts, checkpoints) → `prove` (the module's completeness checks) → `publish` (remove stale
 * parts, manifest, catalogue copy, commit) — or `pause` (checkpoint, continue later), `reread` (the listing
 * moved: read the run again), `fail` (checkpoint kept). Pages are atomic: a part holds whole pages, and the
 * checkpoint (cursor + parts) is written only after the part holding those pages has been stored, so a resumed
 * run continues exactly after the last stored page.
 */
export class ExportRun {
  private part: PartWriter | undefined;
  private lastCursor: Cursor;
  private pages = 0;
  private total: number | undefined;
  private readonly statsBefore: { calls: number; retries: number };
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private lost: LeaseLostError | undefined;
  /** Drift of the records in the open part: joins the run's count when the part is stored. */
  private partDrift: DriftSummary = emptyDrift();
  private readonly drift: DriftCheck;
  readonly runDir: string;

  private constructor(
    private readonly d: Deps,
    private readonly ref: StateRef,
    private readonly run: RunInProgress,
    private readonly owner: string,
    /** The caller keeps the lease across invocations (Step Functions execution, CLI loop). */
    private readonly keepsLease: boolean,
    /** The run's stored parts and the module's memory of the pages (see journal.ts). */
    private readonly journal: RunJournal,
  ) {
    this.lastCursor = run.cursor;
    this.statsBefore = { calls: d.client.stats().calls, retries: d.client.stats().retries };
    this.runDir = runDirFor(d.config, d.module.name, run.dt, run.runId);
    this.drift = driftChecker(d.module.name);
  }

  /** Starts or resumes the module's run and takes its lease; a RunResult when there is nothing to run. */
  static async begin(opts: RunExportOptions): Promise<ExportRun | RunResult> {
    const { module, config, store, invocation } = opts;
    // Every entry point checks a run id where it enters; this is the last line of defence before keys use it.
    if (invocation.runId !== undefined) checkRunId(invocation.runId, 'runId');
    if (invocation.continuation) checkRunId(invocation.continuation.runId, 'continuation.runId');
    const d: Deps = {
      module,
      config,
      client: opts.client,
      store,
      now: opts.now ?? (() => new Date()),
      logger: (opts.logger ?? silentLogger).child({ module: module.name }),
      opts,
    };
    const ref = await StateRef.read(store, stateKeyFor(config, module.name), module);
    const state = ref.state;
    const now = d.now();
    const owner = invocation.owner ?? `invocation-${randomBytes(6).toString('hex')}`;
    const base = { module: module.name, records: 0, parts: 0 };
    const completeThrough = state.committed?.completeThrough;

    const busy = (lease: Lease): RunResult => {
      d.logger.warn('another run of this module holds the lease; nothing written', { lease });
      return {
        ...base,
        status: 'busy',
        runId: state.inProgress?.runId,
        reason: short(leaseHeldMessage(module.name, lease, now, { local: opts.local, action: 'export' })),
        completeThrough,
      };
    };
    const held = state.lease;
    if (held && leaseLive(state, now) && held.owner !== owner) {
      // Taken over only from a holder that is certainly gone, or when asked to; the write below is a
      // compare-and-swap either way, so a holder that writes meanwhile keeps the module.
      if (opts.local && held.process && holderState(held.process, opts.local) === 'dead') {
        d.logger.warn('the lease holder was a process on this host that no longer runs; taking over', {
          held,
        });
      } else if (invocation.takeOver) {
        d.logger.warn('taking the module over from a live lease, as asked', { held });
      } else return busy(held);
    }

    const { continuation } = invocation;
    let run = state.inProgress;
    if (run) {
      if (invocation.backfill && !continuation) {
        throw new ConfigError(
          `a backfill of ${module.name} cannot start while run ${run.runId} is in progress; let it finish (or reset the module) first`,
        );
      }
      const asked = continuation?.runId ?? invocation.runId;
      if (asked && asked !== run.runId) {
        throw new ConfigError(
          `run ${asked} was requested but run ${run.runId} of ${module.name} is in progress (${store.describe(ref.key)}); ` +
            'continue that run first, or reset the module to abandon it',
        );
      }
      checkRunSettings(module, config, run, d.logger);
      run.invocations++;
      if (upgradeLegacyRun(run))
        d.logger.warn('checkpoint written by an older version: reading the run again from its start', {
          runId: run.runId,
        });
      d.logger.info('resuming run', { runId: run.runId, parts: run.stored.parts, records: run.records });
    } else {
      if (continuation) {
        if (state.committed?.runId === continuation.runId) {
          // A retried continuation of a run that already completed: nothing left to do.
          return {
            ...base,
            status: 'done',
            runId: continuation.runId,
            reason: 'already complete',
            completeThrough,
          };
        }
        throw new ConfigError(
          `continuation names run ${continuation.runId}, but no such run of ${module.name} is in progress`,
        );
      }
      if (invocation.runId) await refuseCompletedRunId(d, state, invocation.runId, now);
      const ctx = { config, now, committed: state.committed };
      let startCursor: Cursor;
      if (invocation.backfill) {
        if (!module.startBackfill) {
          throw new ConfigError(
            `${module.name} has no time window to backfill: each run is a full snapshot (backfill applies to edr-events)`,
          );
        }
        startCursor = module.startBackfill(ctx, invocation.backfill);
      } else startCursor = module.start(ctx);
      run = {
        runId: invocation.runId ?? newRunId(now),
        dt: now.toISOString().slice(0, 10),
        startedAt: now.toISOString(),
        startCursor,
        cursor: startCursor,
        records: 0,
        stored: { parts: 0, bytes: 0, rawBytes: 0 },
        journal: 0,
        apiCalls: 0,
        retries: 0,
        invocations: 1,
        settings: runSettings(module, config),
        ...(invocation.backfill ? { backfill: invocation.backfill } : {}),
        // A window that ends at "now" is fixed by Qualys's clock too, before the first page (fixReference).
        ...(module.window && !invocation.backfill ? { awaitingReference: true as const } : {}),
      };
      state.inProgress = run;
    }
    // Read before the lease is taken: a journal that cannot be read refuses the run with nothing written.
    const journal = run.journal
      ? await RunJournal.read(store, config, module.name, run)
      : RunJournal.empty(store, config, module.name);
    state.lease = leaseOf(owner, new Date(now.getTime() + LEASE_TTL_MS), opts.local);
    try {
      await ref.save();
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
      // Another invocation wrote the state between our read and our write: it holds the module now.
      const latest = await StateRef.read(store, ref.key, module);
      return busy(latest.state.lease ?? { owner: 'another invocation', expiresAt: now.toISOString() });
    }
    // What runs committed, reset or abandoned before left behind (only this run is in progress now): looked for
    // when a run starts, not at every invocation.
    if (run.invocations === 1)
      await removeJournals(store, config, module.name, { except: run.runId }, d.logger);
    const self = new ExportRun(d, ref, run, owner, invocation.owner !== undefined, journal);
    if (run.invocations === 1)
      d.logger.info('started run', { runId: run.runId, range: module.describe(run.cursor) });
    self.startHeartbeat();
    return self;
  }

  private get state() {
    return this.ref.state;
  }

  private result(status: RunResult['status'], extra: Partial<RunResult> = {}): RunResult {
    return {
      status,
      module: this.d.module.name,
      runId: this.run.runId,
      records: this.run.records,
      parts: this.journal.parts.length,
      completeThrough: this.state.committed?.completeThrough,
      ...extra,
    };
  }

  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      if (!this.state.lease) return;
      this.renewLease();
      // Only the lease is renewed: the checkpoint itself is written with its journal (see checkpoint()).
      this.ref.renew(this.state.lease).catch((err: unknown) => {
        if (err instanceof LeaseLostError) this.lost = err;
        else
          this.d.logger.warn('lease renewal failed; retrying at the next checkpoint', {
            error: errorInfo(err),
          });
      });
    }, LEASE_RENEW_MS);
    this.heartbeat.unref?.();
  }

  /** Pushes the lease's expiry to at least LEASE_TTL_MS from now (never shortens a longer hold). */
  private renewLease(): void {
    const lease = this.state.lease;
    if (!lease) return;
    const renewed = this.d.now().getTime() + LEASE_TTL_MS;
    if (renewed > Date.parse(lease.expiresAt)) lease.expiresAt = new Date(renewed).toISOString();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private storedBytes(): number {
    return this.journal.parts.reduce((n, p) => n + p.bytes, 0);
  }

  private progress(): void {
    this.d.opts.onProgress?.({
      module: this.d.module.name,
      pages: this.pages,
      records: this.run.records + (this.part?.records ?? 0),
      parts: this.journal.parts.length,
      bytes: this.storedBytes(),
      total: this.total,
    });
  }

  private takeStats(): void {
    const stats = this.d.client.stats();
    this.run.apiCalls += stats.calls - this.statsBefore.calls;
    this.run.retries += stats.retries - this.statsBefore.retries;
    this.statsBefore.calls = stats.calls;
    this.statsBefore.retries = stats.retries;
  }

  /** Writes the journal segment the checkpoint needs, then the checkpoint. */
  private async checkpoint(): Promise<void> {
    if (this.lost) throw this.lost;
    this.takeStats();
    this.renewLease();
    await this.journal.flush(this.run);
    await this.ref.save();
    this.journal.confirmed(this.run);
  }

  /** Stores the open part, then records it and the cursor after its last page. */
  private async closePart(): Promise<void> {
    if (this.part) {
      const info = await this.part.close();
      this.part = undefined;
      this.journal.stored(info);
      this.run.records += info.records;
      this.run.schemaDrift = mergeDrift(this.run.schemaDrift ?? emptyDrift(), this.partDrift);
      this.partDrift = emptyDrift();
      this.d.logger.info('part stored', { key: info.key, records: info.records, bytes: info.bytes });
    } else this.journal.stored(undefined);
    this.run.cursor = this.lastCursor;
  }

  /**
   * Fixes the window of a run that ends at "now" (shared/export/window.ts): asks Qualys's time when the client has
   * not measured it, and starts the module's cursor again from that reference. Nothing has been read yet; a
   * deadline or rate-limit wait on the way pauses the run like any page, and the next invocation asks again.
   */
  private async fixReference(): Promise<void> {
    const { module, config, client, now, logger } = this.d;
    const at = now();
    const reference = await referenceTimeFor(module.window!, config, client, at);
    const start = module.start({ config, now: at, committed: this.state.committed, reference });
    this.run.startCursor = start;
    this.run.cursor = start;
    this.lastCursor = start;
    delete this.run.awaitingReference;
    logger.info('window fixed', { runId: this.run.runId, range: module.describe(start) });
  }

  /** Pages → parts until the listing ends, the time budget runs out, the API asks for a long wait, or Ctrl-C. */
  async pump(): Promise<PumpOutcome> {
    const { module, config, client, store, opts, now } = this.d;
    const safetyMs = opts.safetyMs ?? DEFAULT_SAFETY_MS;
    let outcome: PumpOutcome | undefined;
    let failure: unknown;
    // The pagers fetch ahead themselves (the next request leaves while this page is parsed, serialised,
    // compressed and uploaded), so pages are taken as they come: reading one ahead here too would only keep one
    // more page in memory (issue 14: peak memory).
    let iterator: AsyncIterator<Page> | undefined;
    try {
      if (this.run.awaitingReference) await this.fixReference();
      const pages = module.pages(client, this.run.cursor, config, this.d.logger, {
        runId: this.run.runId,
        scratch: runScratch(store, config, module.name),
        journal: this.journal.takeResume() ?? [],
      });
      iterator = pages[Symbol.asyncIterator]();
      for (;;) {
        if (this.lost) throw this.lost;
        if (opts.signal?.aborted) {
          outcome = { finished: false, reason: 'interrupted', waitMs: 0 };
          break;
        }
        if (opts.deadline() - now().getTime() < safetyMs) {
          outcome = { finished: false, reason: 'time budget of this invocation used', waitMs: 0 };
          break;
        }
        const next = await iterator.next();
        if (next.done) {
          outcome = { finished: true };
          break;
        }
        const page = next.value;
        if (page.total !== undefined) this.total = page.total;
        if (page.records.length) {
          // Schema drift: records are written whole; fields the schema does not know are counted.
          for (const r of page.records) addDrift(this.partDrift, this.drift(r));
          this.part ??= openPart(store, partKeyFor(this.runDir, this.journal.parts.length), {
            runId: this.run.runId,
            gzipLevel: config.output.gzipLevel,
          });
          await this.part.writePage(page.records);
        }
        this.journal.page(page.memo);
        this.lastCursor = page.cursor;
        this.pages++;
        if (page.done) {
          outcome = { finished: true };
          break;
        }
        if (
          this.part &&
          (this.part.rawBytes >= config.output.partMaxBytes ||
            this.part.records >= config.output.partMaxRecords)
        ) {
          await this.closePart();
          await this.checkpoint();
        }
        this.progress();
      }
    } catch (err) {
      if (err instanceof ResumeLaterError) {
        outcome = { finished: false, reason: err.message, waitMs: err.waitMs ?? 0 };
      } else failure = err;
    } finally {
      // Stop any fetch-ahead the pager has in flight.
      await iterator?.return?.().catch(() => undefined);
    }

    // The pages in the open part are complete: store them so no fetched work is lost.
    try {
      await this.closePart();
    } catch (err) {
      this.part?.abort(err as Error);
      this.part = undefined;
      this.partDrift = emptyDrift(); // its records are read again on resume
      this.journal.lost();
      failure ??= err;
    }
    this.progress();
    if (failure !== undefined) throw failure;
    return outcome!;
  }

  /** The module's completeness checks; a failed one is an IncompleteError that the caller may re-read. */
  async prove(): Promise<CompletenessCheck[]> {
    const { module, client, config } = this.d;
    const checks = await module.prove(this.run.cursor, { client, config, records: this.run.records });
    const failed = checks.filter((c) => c.outcome === 'failed');
    if (failed.length) {
      throw new IncompleteError(
        `${module.name} run ${this.run.runId} could not be proven complete: ${failed.map(describeCheck).join('; ')}`,
        { checks, reread: true },
      );
    }
    return checks;
  }

  /** Removes parts the manifest does not list, writes the manifest and its catalogue copy, commits. */
  async publish(completeness: CompletenessCheck[]): Promise<RunResult> {
    const { module, config, store, now, logger } = this.d;
    const run = this.run;
    if (this.lost) throw this.lost;
    const parts = this.journal.parts;
    const listed = new Set(parts.map((p) => p.key));
    const manifestKey = manifestKeyFor(this.runDir);
    const stale = (await store.list(`${this.runDir}/`)).filter((k) => !listed.has(k) && k !== manifestKey);
    if (stale.length) {
      logger.info('removing parts of an earlier attempt of this run', {
        runId: run.runId,
        keys: stale.length,
      });
      await store.delete(stale);
    }
    this.takeStats();
    const endedAt = now().toISOString();
    const manifest: Manifest = {
      module: module.name,
      runId: run.runId,
      dt: run.dt,
      range: module.describe(run.startCursor),
      parts,
      totals: {
        records: run.records,
        parts: parts.length,
        bytes: this.storedBytes(),
        rawBytes: parts.reduce((n, p) => n + p.rawBytes, 0),
      },
      kind: module.kind(run.startCursor),
      completeness,
      rereads: run.rereads ?? 0,
      schemaDrift: run.schemaDrift ?? emptyDrift(),
      ...(run.backfill ? { backfill: run.backfill } : {}),
      apiCalls: run.apiCalls,
      retries: run.retries,
      invocations: run.invocations,
      startedAt: run.startedAt,
      endedAt,
      formatVersion: 2,
    };
    await store.putJson(manifestKey, manifest);
    await store.putJson(catalogManifestKeyFor(config, module.name, run.dt, run.runId), manifest);
    const previous = this.state.committed;
    if (run.backfill) {
      // A backfill leaves the scheduled window (and freshness) where they were; it only records its window.
      this.state.committed = {
        ...previous,
        backfills: [...(previous?.backfills ?? []), { ...run.backfill, runId: run.runId }],
      };
    } else {
      const committed = module.commit(this.lastCursor, previous);
      this.state.committed = {
        ...committed,
        ...(previous?.backfills ? { backfills: previous.backfills } : {}),
        runId: run.runId,
        completedAt: endedAt,
        completeThrough:
          typeof committed.completeThrough === 'string' ? committed.completeThrough : run.startedAt,
      };
    }
    const lease = this.state.lease;
    delete this.state.inProgress;
    delete this.state.lease;
    try {
      await this.ref.save();
    } catch (err) {
      // Not committed: the run stays in progress (every page stored), so a rerun publishes it again.
      this.state.committed = previous;
      this.state.inProgress = run;
      this.state.lease = lease;
      throw err;
    }
    // What the committed run keeps beside the state file is all the next run reads; earlier runs' can go.
    await dropScratchExcept(store, config, module.name, [this.state.committed?.runId], logger);
    // The journal served its run; what is not removed now the next run removes.
    await removeJournals(store, config, module.name, { only: run.runId }, logger);
    logger.info('run complete', { runId: run.runId, records: run.records, parts: parts.length });
    return this.result('done', { manifestKey, schemaDriftRecords: manifest.schemaDrift.records });
  }

  /** Ends this invocation with the run checkpointed; the caller continues it (after `waitMs`). */
  async pause(reason: string, waitMs: number): Promise<RunResult> {
    // Interrupted (Ctrl-C): the caller is going away, so the next start must not wait for the lease.
    if (this.d.opts.signal?.aborted) delete this.state.lease;
    else this.releaseOrExtend(waitMs);
    await this.checkpoint();
    this.d.logger.info('invocation ends; run continues', { runId: this.run.runId, reason });
    // The API asked for a wait longer than this invocation had left: the loop waits before continuing.
    return this.result('continue', { reason: short(reason), waitSeconds: Math.ceil(waitMs / 1000) });
  }

  canReread(): boolean {
    return (this.run.rereads ?? 0) < MAX_REREADS;
  }

  /** The listing moved while it was read: read the whole run again under the same run id. */
  async reread(err: IncompleteError): Promise<RunResult> {
    const run = this.run;
    run.rereads = (run.rereads ?? 0) + 1;
    run.cursor = run.startCursor;
    this.lastCursor = run.startCursor;
    // Parts are rewritten from part-00000 on; publish removes any the new pass does not list.
    this.journal.restart(run);
    run.records = 0;
    delete run.schemaDrift;
    delete run.listed;
    const error = errorInfo(err);
    run.lastError = { ...error, at: this.d.now().toISOString() };
    this.releaseOrExtend(0);
    await this.checkpoint();
    this.d.logger.warn('run not proven complete; reading it again', {
      runId: run.runId,
      reread: run.rereads,
      reason: err.message,
    });
    return this.result('continue', {
      reason: short(`re-reading the run (${run.rereads} of ${MAX_REREADS}): ${error.message}`),
      waitSeconds: 0,
    });
  }

  /** Records the error with the checkpoint (a rerun resumes) and releases the lease. */
  async fail(err: unknown): Promise<RunResult> {
    const error = errorInfo(err);
    this.run.lastError = { ...error, at: this.d.now().toISOString() };
    delete this.state.lease;
    await this.checkpoint();
    this.d.logger.error('run failed; checkpoint kept', { runId: this.run.runId, error });
    return this.result('failed', {
      reason: short(error.message),
      error: { code: error.code, message: short(error.message) },
    });
  }

  /** The lease was taken over by another invocation: this one writes nothing more. */
  abandon(err: LeaseLostError): RunResult {
    this.d.logger.error('lease lost; stopped without writing', { runId: this.run.runId, error: err.message });
    return this.result('failed', {
      reason: short(err.message),
      error: { code: err.code, message: short(err.message) },
    });
  }

  /** Keep the lease for the caller's next invocation (after the wait), or give it up now. */
  private releaseOrExtend(waitMs: number): void {
    if (this.keepsLease) {
      const until = new Date(this.d.now().getTime() + waitMs + LEASE_GAP_MS);
      this.state.lease = leaseOf(this.owner, until, this.d.opts.local);
    } else delete this.state.lease;
  }

  /** Stops background work (the lease heartbeat). */
  end(): void {
    this.stopHeartbeat();
  }

  /** Runs the steps of one invocation. */
  async invoke(): Promise<RunResult> {
    try {
      return await this.steps();
    } catch (err) {
      if (err instanceof LeaseLostError) return this.abandon(err);
      throw err;
    } finally {
      this.end();
    }
  }

  private async steps(): Promise<RunResult> {
    try {
      // A run whose every page is stored (an earlier invocation failed or paused while proving or publishing) is
      // not read again: its final cursor is where the listing ended, not where a listing starts.
      if (!this.run.listed) {
        const pumped = await this.pump();
        if (!pumped.finished) return await this.pause(pumped.reason, pumped.waitMs);
        this.run.listed = true;
      }
      return await this.publish(await this.prove());
    } catch (err) {
      if (err instanceof LeaseLostError) throw err;
      // A proof that calls the API can meet a long rate-limit wait: continue later, exactly here.
      if (err instanceof ResumeLaterError) return await this.pause(err.message, err.waitMs ?? 0);
      // A proof that failed is not retried from the same answers: a rerun reads on from the final cursor (the end
      // of the listing again, e.g. EDR's window count).
      if (err instanceof IncompleteError) delete this.run.listed;
      if (err instanceof IncompleteError && err.reread && this.canReread()) return await this.reread(err);
      return await this.fail(err);
    }
  }
}

/**
 * A run id names one run, and a complete run's published data is never overwritten: naming a run that already
 * completed (the module's last complete run, a backfill, or any run with a manifest under the date a new run
 * would write to) is refused before anything is read or written (README "Output contract", docs/operations.md).
 */
async function refuseCompletedRunId(d: Deps, state: StateFile, runId: string, now: Date): Promise<void> {
  const { store, config, module } = d;
  const c = state.committed;
  const dir = runDirFor(config, module.name, now.toISOString().slice(0, 10), runId);
  let what: string | undefined;
  if (c?.runId === runId) {
    what = `it is the last complete run (completed ${c.completedAt ?? '?'}, complete through ${c.completeThrough ?? '?'})`;
  } else if (c?.backfills?.some((b) => b.runId === runId)) {
    const b = c.backfills.find((x) => x.runId === runId)!;
    what = `it is the backfill of ${b.from} .. ${b.to}`;
  } else if ((await store.list(`${dir}/`)).includes(manifestKeyFor(dir))) {
    what = `its manifest is ${store.describe(manifestKeyFor(dir))}`;
  }
  if (what) {
    throw new ConfigError(
      `run ${runId} of ${module.name} already completed: ${what}. A run id names one run and its published data is ` +
        'never overwritten by another run: omit the run id (--run-id, event.runId) to start a new run, or choose ' +
        'one not used before',
    );
  }
}

/** Drives one module's pager into the object store for at most one invocation. */
export async function runExport(opts: RunExportOptions): Promise<RunResult> {
  const run = await ExportRun.begin(opts);
  return run instanceof ExportRun ? run.invoke() : run;
}
