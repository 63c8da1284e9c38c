import type { AppConfig, ModuleName } from '../config';
import type { Logger } from '../log';
import type { QualysClient } from '../qualys/types';
import type { Shape } from '../qualys/shapes';

/** A JSON record as it will be written to NDJSON (API field names kept). */
export type ExportRecord = Record<string, unknown>;

/** A cursor is plain JSON so it can be checkpointed anywhere and resumed exactly. */
export type Cursor = Record<string, unknown>;

export interface Page {
  records: ExportRecord[];
  /** Where to resume AFTER this page; `done: true` when the listing is finished. */
  cursor: Cursor;
  done: boolean;
  /** Records the whole listing holds, where the API says (PCI totalCount): progress shows a total and ETA. */
  total?: number;
  /**
   * What the module needs to remember of this page to resume after it (e.g. the keys of the ids it read), in the
   * module's own format. The engine keeps it in the run's journal once the page's records are stored, and hands
   * every entry back, in order, to `pages` when the run resumes. Keeps the cursor (the checkpoint) small however
   * long the run.
   */
  memo?: Uint8Array;
}

/** What the module committed at the end of its last complete run (e.g. EDR window end). */
export type CommittedState = Record<string, unknown>;

export interface StartContext {
  config: AppConfig;
  now: Date;
  committed: CommittedState | undefined;
}

/** A bounded time window, ISO UTC: from inclusive, to exclusive. */
export interface TimeWindow {
  from: string;
  to: string;
}

/**
 * One fact a module checked before its run may be published. `expected`/`actual` carry the numbers (e.g. the
 * API's totalCount vs the distinct records written) so a failure message and the manifest show both.
 */
export interface CompletenessCheck {
  /** Stable id, e.g. 'pci.totalCount', 'edr.count-endpoint', 'mobile.ids-increasing'. */
  name: string;
  /** 'skipped' = the API does not offer what this check needs (e.g. no /count endpoint); never a failure. */
  outcome: 'passed' | 'failed' | 'skipped';
  expected?: number;
  actual?: number;
  /** One short sentence a reader can act on. */
  detail?: string;
}

export interface ProveContext {
  client: QualysClient;
  config: AppConfig;
  /** Records written by this run (all invocations). */
  records: number;
}

/** Whether a run is a full snapshot of the listing or one increment (a time window, an updated-since slice). */
export type RunKind = 'snapshot' | 'incremental';

export interface ModuleDef {
  name: ModuleName;
  /** What a run of this module is; goes into the manifest. */
  kind(cursor: Cursor): RunKind;
  /** Cursor for a brand-new run. */
  start(ctx: StartContext): Cursor;
  /**
   * Cursor for a backfill run of exactly `window`, for modules that read by time window. A backfill never moves
   * the scheduled window: it is recorded in the committed state (and refused when it overlaps what scheduled
   * runs or earlier backfills already cover, which would write records twice). Absent: no backfill.
   */
  startBackfill?(ctx: StartContext, window: TimeWindow): Cursor;
  /**
   * Pages from `cursor` (a start cursor or one taken from a checkpoint). Pages are yielded in order; the
   * pager may fetch ahead in parallel within the client's concurrency limit. Each page's cursor resumes
   * exactly after that page: no record lost, none repeated. `log` (optional) receives what a reader of the run
   * should know but that does not stop it (e.g. a Mobile truncation URL re-issued on the configured origin).
   */
  pages(
    client: QualysClient,
    cursor: Cursor,
    config: AppConfig,
    log?: Logger,
    /** The `memo` of every page of the run before `cursor`, in order (see Page.memo); absent for a new run. */
    journal?: readonly Uint8Array[],
  ): AsyncIterable<Page>;
  /**
   * Proves the finished run complete, from the final cursor (which a pager fills with what it observed: totals,
   * counts, id ranges) and, where the API offers one, an independent count. Called once after the last page;
   * the engine publishes only when no check failed. A pager may also throw IncompleteError mid-run (e.g. a page
   * out of the declared order).
   */
  prove(final: Cursor, ctx: ProveContext): Promise<CompletenessCheck[]>;
  /** Committed state to store after the run that ended with `cursor` completes. */
  commit(finalCursor: Cursor, previous: CommittedState | undefined): CommittedState;
  /** Run window / range for the manifest (e.g. {from,to} for EDR). */
  describe(cursor: Cursor): Record<string, unknown>;
  /** Stable id of a record, for dedup and for tests. */
  recordId(record: ExportRecord): string;
  /** The shapes of this module's cursor and committed state: the state file is checked against them when read. */
  state: { cursor: Shape; committed: Shape };
  /**
   * The settings that shape a run: recorded when it starts, compared when it resumes (see export/settings.ts).
   * Each says whether a changed value can be applied to the run in progress.
   */
  runSettings: readonly RunSetting[];
}

/** A setting that shapes a run, e.g. a page size or a filter. */
export interface RunSetting {
  /** The environment variable that sets it (what the user changes, and what a message names). */
  env: string;
  /** Its value as the run uses it, as text (undefined: not set). */
  value(config: AppConfig): string | undefined;
  /**
   * `apply`: a resumed run takes the new value (it cannot change what the run lists, e.g. a page size of a listing
   * keyed by offset or id); `refuse`: it could, so a resumed run refuses to go on with it.
   */
  onChange: 'apply' | 'refuse';
  /** Why, as the end of a sentence: "pages are numbered, so page 7 of another size starts elsewhere". */
  why: string;
}
