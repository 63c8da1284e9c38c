import type { AppConfig, ModuleName } from '../config';
import type { Logger } from '../log';
import type { QualysClient } from '../qualys/types';
import type { ReferenceTime, WindowDeclaration } from '../export/window';
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
  /**
   * Modules with a `window`, on a new scheduled run: where a window that ends at "now" ends (the earlier of our
   * clock and the server's, minus the indexing lag) and what that rests on. Absent for backfills and modules
   * without windows.
   */
  reference?: ReferenceTime;
}

/**
 * What identifies one record of a module, from the evidence about its API (docs/api-assumptions.md). Dedup,
 * repeat detection and the tests' lost/duplicated counts all go through `key`.
 */
export interface Identity {
  /** The record fields the key is made of, e.g. ['scanId']. */
  fields: readonly string[];
  /**
   * true: the key alone names one record (two records with one key are the same record). false: evidence shows
   * the key can be shared by distinct records, so two records are the same only with the same key and the same
   * content; records sharing a key with different content are all kept (and counted).
   */
  unique: boolean;
  /** The evidence, as one sentence ([doc], [code], [recorded] or [ours]). */
  evidence: string;
  key(record: ExportRecord): string;
}

/**
 * Objects a module keeps beside its state file (`<prefix>/_state/<module>/<runId>/<name>`), for what would make
 * a checkpoint grow with the run (EDR's overlap fingerprints). Written before the checkpoint that names them;
 * the engine deletes a run's objects once no committed state or run in progress refers to them.
 */
export interface RunScratch {
  putJson(runId: string, name: string, value: unknown): Promise<void>;
  /** undefined when absent. */
  getJson(runId: string, name: string): Promise<unknown>;
  /** Where an object is, for messages. */
  describe(runId: string, name: string): string;
}

/** What the engine hands a pager about the run it pages for. */
export interface RunContext {
  runId: string;
  scratch: RunScratch;
  /**
   * The `memo` of every page of the run before the cursor, in order (see Page.memo); empty for a new run. Taken
   * once by the pager with `takeJournal`, so its bytes can go once the pager has rebuilt what it needs.
   */
  journal: readonly Uint8Array[];
}

/** The run's journal, taken from its context: the context no longer holds it (megabytes at a million records). */
export function takeJournal(run: RunContext | undefined): readonly Uint8Array[] {
  if (!run) return [];
  const journal = run.journal;
  run.journal = [];
  return journal;
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
    run?: RunContext,
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
  /** What identifies a record (dedup, repeat detection, tests). */
  identity: Identity;
  /**
   * Modules whose runs end a window at "now" (EDR's time window, Mobile's increment): what the shared rule
   * (shared/export/window.ts) needs to end it at the earlier of our clock and the server's, minus the lag.
   */
  window?: WindowDeclaration;
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
