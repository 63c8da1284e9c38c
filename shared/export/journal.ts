import type { AppConfig, ModuleName } from '../config';
import type { Logger } from '../log';
import type { ObjectStore, PartInfo } from '../sink/types';
import { journalDirFor, journalKeyFor } from './layout';
import { partMisfit, stateError } from './state-shape';
import type { RunInProgress } from './types';

/**
 * A run's journal: what a resumed run needs that grows with the run, kept out of the checkpoint so the checkpoint
 * stays the same size however long the run (issue 19). Each checkpoint that stored a part, or after which the
 * module has more to remember, first writes one segment, `<prefix>/_state/<module>/<runId>/journal-NNNNN.json`
 * (beside the state file, never among the data), then the checkpoint, which counts the segments (`run.journal`).
 * A segment holds the parts stored since the previous one (key, size, hash) and the module's entries for the pages
 * they cover (e.g. the id keys it read, see shared/modules/idset.ts), as base64. A resumed run reads the segments
 * its checkpoint counts, in order; a segment written by a process that died before its checkpoint is written again
 * by the rerun under the same name. The run's segments are deleted once it is committed or reset.
 */
export interface JournalSegment {
  module: ModuleName;
  runId: string;
  segment: number;
  parts: PartInfo[];
  /** The module's entries for the pages this segment covers, concatenated (base64). */
  memo: string;
}

/** How many parts a run in progress has stored (checkpoints of older versions list them inline). */
export const storedParts = (run: RunInProgress): number => run.stored?.parts ?? run.parts?.length ?? 0;

export class RunJournal {
  /** The module's entries from earlier invocations, handed to its pager once. */
  private resume: Uint8Array[] | undefined;
  /** Entries of pages in the open part (or pages without records since the last stored part). */
  private open: Uint8Array[] = [];
  /** Entries of pages the run's cursor covers that no segment holds yet. */
  private closed: Uint8Array[] = [];
  /** How many of `parts` are in segments. */
  private journaled: number;

  private constructor(
    private readonly store: ObjectStore,
    private readonly config: AppConfig,
    private readonly module: ModuleName,
    /** Every stored part of the run, in order. */
    readonly parts: PartInfo[],
    resume: Uint8Array[] | undefined,
  ) {
    this.resume = resume;
    this.journaled = parts.length;
  }

  /** A new run's journal: empty. */
  static empty(store: ObjectStore, config: AppConfig, module: ModuleName): RunJournal {
    return new RunJournal(store, config, module, [], undefined);
  }

  /** Reads the segments `run`'s checkpoint counts; refuses (naming the object) when one is missing or damaged. */
  static async read(
    store: ObjectStore,
    config: AppConfig,
    module: ModuleName,
    run: RunInProgress,
  ): Promise<RunJournal> {
    const parts: PartInfo[] = [];
    const memo: Uint8Array[] = [];
    for (let i = 0; i < run.journal; i++) {
      const key = journalKeyFor(config, module, run.runId, i);
      const where = store.describe(key);
      const refuse = (problem: string, field?: string) =>
        stateError(where, problem, 'journal', { module, runId: run.runId, field });
      const seg = await store.getJson(key).catch((err: unknown) => {
        throw refuse(`cannot be read (${(err as Error).message})`);
      });
      if (seg === undefined) throw refuse(`is missing (the checkpoint counts ${run.journal} segments)`);
      const s = seg as Partial<JournalSegment> | null;
      if (!s || typeof s !== 'object' || s.runId !== run.runId || s.segment !== i || s.module !== module)
        throw refuse(`is not segment ${i} of ${module} run ${run.runId}`);
      if (!Array.isArray(s.parts)) throw refuse('is not a list', 'parts');
      for (let j = 0; j < s.parts.length; j++) {
        const m = partMisfit(s.parts[j], `parts[${j}]`);
        if (m) throw refuse(m[1], m[0]);
      }
      if (typeof s.memo !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(s.memo))
        throw refuse('is not base64', 'memo');
      parts.push(...s.parts);
      if (s.memo) memo.push(new Uint8Array(Buffer.from(s.memo, 'base64')));
    }
    const records = parts.reduce((n, p) => n + p.records, 0);
    if (parts.length !== run.stored.parts || records !== run.records) {
      throw stateError(
        store.describe(journalDirFor(config, module, run.runId)),
        `holds ${parts.length} parts of ${records} records; the checkpoint counts ${run.stored.parts} parts of ${run.records}`,
        'journal',
        { module, runId: run.runId },
      );
    }
    return new RunJournal(store, config, module, parts, memo);
  }

  /** The module's entries of earlier invocations (once; undefined for a new run). */
  takeResume(): Uint8Array[] | undefined {
    const r = this.resume;
    this.resume = undefined;
    return r;
  }

  /** A page was handled (its records went into the open part): its entry joins the open part's. */
  page(memo: Uint8Array | undefined): void {
    if (memo?.byteLength) this.open.push(memo);
  }

  /** The open part was stored (or there was none): its pages are covered by the run's cursor now. */
  stored(part: PartInfo | undefined): void {
    if (part) this.parts.push(part);
    for (const m of this.open) this.closed.push(m);
    this.open = [];
  }

  /** The open part was abandoned: its pages will be read again. */
  lost(): void {
    this.open = [];
  }

  /**
   * Writes what the next checkpoint covers and no segment holds yet, and counts it in `run`. Call before every
   * write of the checkpoint; a failed write leaves everything to the next call (same segment name).
   */
  async flush(run: RunInProgress): Promise<void> {
    if (this.parts.length > this.journaled || this.closed.length) {
      const segment: JournalSegment = {
        module: this.module,
        runId: run.runId,
        segment: run.journal,
        parts: this.parts.slice(this.journaled),
        memo: Buffer.concat(this.closed).toString('base64'),
      };
      await this.store.putJson(journalKeyFor(this.config, this.module, run.runId, run.journal), segment);
      run.journal++;
      this.journaled = this.parts.length;
      this.closed = [];
    }
    run.stored = {
      parts: this.parts.length,
      bytes: this.parts.reduce((n, p) => n + p.bytes, 0),
      rawBytes: this.parts.reduce((n, p) => n + p.rawBytes, 0),
    };
  }

  /** The run is read again from its start: its parts and entries are forgotten (segments are overwritten). */
  restart(run: RunInProgress): void {
    this.parts.length = 0;
    this.open = [];
    this.closed = [];
    this.journaled = 0;
    this.resume = undefined;
    run.journal = 0;
    run.stored = { parts: 0, bytes: 0, rawBytes: 0 };
  }
}

/**
 * Deletes the journal objects of `module` except those of `keep` (the run in progress): what a run that was
 * committed, reset or abandoned left behind. Housekeeping: a failure is logged, never fatal.
 */
export async function removeJournals(
  store: ObjectStore,
  config: AppConfig,
  module: ModuleName,
  keep: string | undefined,
  logger?: Logger,
): Promise<number> {
  try {
    const mine = keep === undefined ? undefined : `${journalDirFor(config, module, keep)}/`;
    const keys = (await store.list(`${journalDirFor(config, module)}/`)).filter(
      (k) => mine === undefined || !k.startsWith(mine),
    );
    if (keys.length) await store.delete(keys);
    return keys.length;
  } catch (err) {
    logger?.warn('could not remove journal objects; the next run tries again', {
      error: (err as Error).message,
    });
    return 0;
  }
}

/** Deletes one run's journal (it was committed). Housekeeping: a failure is logged, never fatal. */
export async function removeRunJournal(
  store: ObjectStore,
  config: AppConfig,
  module: ModuleName,
  runId: string,
  logger?: Logger,
): Promise<void> {
  try {
    const keys = await store.list(`${journalDirFor(config, module, runId)}/`);
    if (keys.length) await store.delete(keys);
  } catch (err) {
    logger?.warn('could not remove the journal of a committed run; the next run tries again', {
      error: (err as Error).message,
    });
  }
}

/**
 * A checkpoint written before runs had a journal (its parts and ids inline): the run is read again from its start
 * under the same run id (nothing of it was published; its parts are rewritten and stale ones removed at publish).
 */
export function upgradeLegacyRun(run: RunInProgress): boolean {
  if (run.stored !== undefined) return false;
  run.cursor = run.startCursor;
  run.records = 0;
  run.stored = { parts: 0, bytes: 0, rawBytes: 0 };
  run.journal = 0;
  delete run.parts;
  delete run.schemaDrift;
  delete run.listed;
  return true;
}
