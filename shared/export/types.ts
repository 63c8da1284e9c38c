import type { ModuleName } from '../config';
import type { LocalProcess } from '../local-process';
import type { CompletenessCheck, Cursor, RunKind, TimeWindow } from '../modules/types';
import type { DriftSummary } from '../schema/drift';
import type { PartInfo } from '../sink/types';

/**
 * Input of an export invocation: a scheduled event or {} starts (or resumes) a run; a continuation resumes
 * it. `owner` names who holds the module's lease across invocations (Step Functions passes its execution id);
 * without one, the lease is held for this invocation only.
 */
export interface ExportInvocation {
  runId?: string;
  owner?: string;
  /** Start a backfill run of exactly this window (modules that read by time window only). */
  backfill?: TimeWindow;
  /** Present when the Step Functions loop passes back a 'continue' result. */
  continuation?: { runId: string };
  /**
   * Take the module over even from a live lease (the CLI's --take-over): the holder stops at its next write. Still a
   * compare-and-swap: a holder that writes between our read and our write keeps the module.
   */
  takeOver?: boolean;
}

/**
 * continue: more to do (after `waitSeconds`); done: published; failed: checkpoint kept, a rerun resumes;
 * busy: another owner holds the module's lease, nothing was written.
 */
export type RunStatus = 'continue' | 'done' | 'failed' | 'busy';

/**
 * The small JSON an export handler returns (the Step Functions loop contract). Bounded in size whatever the
 * run: no cursor (the checkpoint lives only in S3), and `reason` / `error.message` are cut to MAX_REASON.
 */
export interface RunResult {
  status: RunStatus;
  module: ModuleName;
  runId?: string;
  /** Records and parts of the run so far. */
  records: number;
  parts: number;
  manifestKey?: string;
  /** Why the invocation ended (time budget, rate-limit wait, re-read, lease held) or the error. */
  reason?: string;
  /** With 'continue': seconds the API asked us to wait before calling again (0 = continue at once). */
  waitSeconds?: number;
  error?: { code: string; message: string };
  /**
   * Complete data exists up to this instant (ISO): the end of the last complete EDR window, or the start of the
   * last complete snapshot. Freshness = now − completeThrough. Absent before the first complete run.
   */
  completeThrough?: string;
  /** With 'done': records of the run with fields the schema does not know (SchemaDriftRecords metric). */
  schemaDriftRecords?: number;
}

/** Longest `reason` / error message a result carries (full text goes to the log and the state file). */
export const MAX_REASON = 500;

export interface Lease {
  owner: string;
  /** ISO; after this, another invocation may take the module over. */
  expiresAt: string;
  /**
   * Set by a local process (the CLI): which one holds the lease, so another start on the same host can tell
   * that it died (see export/lease.ts) and take the module over at once.
   */
  process?: LeaseProcess;
}

/** A local process, identified well enough to tell on its own host whether it still runs. */
export type LeaseProcess = LocalProcess;

export interface RunInProgress {
  runId: string;
  dt: string;
  startedAt: string;
  startCursor: Cursor;
  cursor: Cursor;
  /** Records of the stored parts. */
  records: number;
  /** The stored parts: how many and their sizes. Each part itself (key, size, hash) is in the run's journal. */
  stored: { parts: number; bytes: number; rawBytes: number };
  /** Journal segments written for this run (see export/journal.ts). */
  journal: number;
  /** Checkpoints written before runs had a journal listed the parts here (read, never written). */
  parts?: PartInfo[];
  /**
   * The settings that shape the run, as they were when it started (module.runSettings): a resumed run with other
   * values applies them where it safely can and refuses otherwise, naming the setting.
   */
  settings?: Record<string, string | null>;
  apiCalls: number;
  retries: number;
  invocations: number;
  /**
   * Every page of the listing is stored (the cursor is where it ended): what is left is the proof and publishing.
   * A resumed run does not read the listing again.
   */
  listed?: true;
  /** Times the run was read again from its start because it could not be proven complete. */
  rereads?: number;
  /** Records of the stored parts with fields the module's schema does not declare. */
  schemaDrift?: DriftSummary;
  /** Set on a backfill run: its window; publishing it leaves the scheduled window where it was. */
  backfill?: TimeWindow;
  /**
   * Set while the run's window, which ends at "now", has not been fixed by Qualys's clock yet: the cursors are the
   * module's start from our clock alone, replaced before the first page is requested (shared/export/window.ts).
   */
  awaitingReference?: true;
  lastError?: { code: string; message: string; at: string };
}

/** `<prefix>/_state/<module>.json` */
export interface StateFile {
  module: ModuleName;
  /** What the last complete run committed (EDR window end, etc.). */
  committed?: Record<string, unknown> & {
    runId?: string;
    completedAt?: string;
    completeThrough?: string;
    /** Windows completed by backfill runs. */
    backfills?: (TimeWindow & { runId: string })[];
  };
  /** The run in progress, absent when none. Written only after the data it covers is durable. */
  inProgress?: RunInProgress;
  /** Who may write this module's data now. Absent or expired: anyone may take it. */
  lease?: Lease;
}

export interface Manifest {
  module: ModuleName;
  runId: string;
  dt: string;
  range: Record<string, unknown>;
  parts: PartInfo[];
  totals: { records: number; parts: number; bytes: number; rawBytes: number };
  /** A full snapshot of the listing, or one increment (EDR time window). */
  kind: RunKind;
  /** What the module checked before this manifest was written (all passed or skipped). */
  completeness: CompletenessCheck[];
  /** Times the run was read again because the listing moved while it was read. */
  rereads: number;
  /** Records carrying fields the module's schema does not declare (written whole), and a sample of them. */
  schemaDrift: DriftSummary;
  /** Present on a backfill run: the window it covered (scheduled runs carry their window in `range`). */
  backfill?: TimeWindow;
  apiCalls: number;
  retries: number;
  invocations: number;
  startedAt: string;
  endedAt: string;
  formatVersion: 2;
}
