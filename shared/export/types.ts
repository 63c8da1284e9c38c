import type { ModuleName } from '../config';
import type { CompletenessCheck, Cursor, RunKind } from '../modules/types';
import type { PartInfo } from '../sink/types';

/** Input of an export invocation: a scheduled event / {} starts (or resumes) a run; a continuation resumes. */
export interface ExportInvocation {
  runId?: string;
  /** Present when the Step Functions loop passes back a 'continue' result. */
  continuation?: { runId: string };
}

export type RunStatus = 'continue' | 'done' | 'failed';

/** The small JSON an export handler returns (the Step Functions loop contract). */
export interface RunResult {
  status: RunStatus;
  module: ModuleName;
  runId: string;
  /** Where the run will resume (status continue/failed). */
  cursor?: Cursor;
  records: number;
  parts: number;
  manifestKey?: string;
  /** Reason for 'continue' (time budget, rate limit wait) or the error for 'failed'. */
  reason?: string;
  /** With 'continue': seconds the API asked us to wait before calling again (0 = continue at once). */
  waitSeconds?: number;
  error?: { code: string; message: string };
}

/** `<prefix>/_state/<module>.json` */
export interface StateFile {
  module: ModuleName;
  /** What the last complete run committed (EDR window end, etc.). */
  committed?: Record<string, unknown> & { runId?: string; completedAt?: string };
  /** The run in progress, absent when none. Written only after the data it covers is durable. */
  inProgress?: {
    runId: string;
    dt: string;
    startedAt: string;
    startCursor: Cursor;
    cursor: Cursor;
    parts: PartInfo[];
    records: number;
    apiCalls: number;
    retries: number;
    invocations: number;
    /** Times the run was read again from its start because it could not be proven complete. */
    rereads?: number;
    lastError?: { code: string; message: string; at: string };
  };
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
  apiCalls: number;
  retries: number;
  invocations: number;
  startedAt: string;
  endedAt: string;
  formatVersion: 2;
}
