import type { AppConfig, ModuleName } from '../config';
import type { QualysClient } from '../qualys/types';

/** A JSON record as it will be written to NDJSON (API field names kept). */
export type ExportRecord = Record<string, unknown>;

/** A cursor is plain JSON so it can be checkpointed anywhere and resumed exactly. */
export type Cursor = Record<string, unknown>;

export interface Page {
  records: ExportRecord[];
  /** Where to resume AFTER this page; `done: true` when the listing is finished. */
  cursor: Cursor;
  done: boolean;
}

/** What the module committed at the end of its last complete run (e.g. EDR window end). */
export type CommittedState = Record<string, unknown>;

export interface StartContext {
  config: AppConfig;
  now: Date;
  committed: CommittedState | undefined;
}

export interface ModuleDef {
  name: ModuleName;
  /** Cursor for a brand-new run. */
  start(ctx: StartContext): Cursor;
  /**
   * Pages from `cursor` (a start cursor or one taken from a checkpoint). Pages are yielded in order; the
   * pager may fetch ahead in parallel within the client's concurrency limit. Each page's cursor resumes
   * exactly after that page: no record lost, none repeated.
   */
  pages(client: QualysClient, cursor: Cursor, config: AppConfig): AsyncIterable<Page>;
  /** Committed state to store after the run that ended with `cursor` completes. */
  commit(finalCursor: Cursor, previous: CommittedState | undefined): CommittedState;
  /** Run window / range for the manifest (e.g. {from,to} for EDR). */
  describe(cursor: Cursor): Record<string, unknown>;
  /** Stable id of a record, for dedup and for tests. */
  recordId(record: ExportRecord): string;
}
