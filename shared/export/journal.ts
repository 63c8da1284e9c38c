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

/** Journal segments read at once when a run resumes. */
const READ_AHEAD = 8;

/**
 * The journals this process last read or wrote, by journal directory: a run resumed by the same warm process reads
 * only the segments written since. Valid for one run of one pass (run id, start, re-reads); a checkpoint counting
 * fewer segments than known (a write that did not land, another writer) reads them all again.
 */
interface KnownJournal {
  run: string;
  segments: number;
  parts: PartInfo[];
  memo: Uint8Array[];
}
const READ_CACHE = new Map<string, KnownJournal>();
const runKey = (run: RunInProgress) => `${run.runId}|${run.startedAt}|${run.rereads ?? 0}`;
/** Forgets what this process knows of journals: its next resume reads every segment (a new process's view). */
export function forgetKnownJournals(): void {
  READ_CACHE.clear();
}

function remember(dir: string, entry: KnownJournal): void {
  READ_CACHE.delete(dir);
  READ_CACHE.set(dir, entry);
  // One run per module is in progress; a process exporting many keeps a few.
  while (READ_CACHE.size > 8) READ_CACHE.delete(READ_CACHE.keys().next().value!);
}

export class RunJournal {
  /** The module's entries from earlier invocations, handed to its pager once. */
  private resume: Uint8Array[] | undefined;
  /** Entries of pages in the open part (or pages without records since the last stored part). */
  private open: Uint8Array[] = [];
  /** Entries of pages the run's cursor covers that no segment holds yet. */
  private closed: Uint8Array[] = [];
  /** How many of `parts` are in segments. */
  private journaled: number;
  /** The journal as the next checkpoint will count it (remembered once that checkpoint is written). */
  private unconfirmed: KnownJournal | undefined;

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
    // A warm process (Lambda reuses its container between the invocations of a run) has read or written the first
    // segments already: only the ones after them are read.
    const dir = store.describe(journalDirFor(config, module, run.runId));
    const known = READ_CACHE.get(dir);
    const reuse = known && known.run === runKey(run) && known.segments <= run.journal ? known : undefined;
    const parts: PartInfo[] = reuse ? [...reuse.parts] : [];
    const memo: Uint8Array[] = reuse ? [...reuse.memo] : [];
    const first = reuse?.segments ?? 0;
    // Segments are fetched a few at a time (a long run has many), and checked in order.
    const fetch = (i: number) => {
      const p = store.getJson(journalKeyFor(config, module, run.runId, i));
      p.catch(() => undefined); // observed in order below
      return p;
    };
    const ahead: Promise<unknown>[] = [];
    for (let i = first; i < Math.min(first + READ_AHEAD, run.journal); i++) ahead.push(fetch(i));
    for (let i = first; i < run.journal; i++) {
      const key = journalKeyFor(config, module, run.runId, i);
      const where = store.describe(key);
      const refuse = (problem: string, field?: string) =>
        stateError(where, problem, 'journal', { module, runId: run.runId, field });
      const pending = ahead.shift()!;
      if (i + READ_AHEAD < run.journal) ahead.push(fetch(i + READ_AHEAD));
      const seg = await pending.catch((err: unknown) => {
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
      READ_CACHE.delete(dir);
      throw stateError(
        dir,
        `holds ${parts.length} parts of ${records} records; the checkpoint counts ${run.stored.parts} parts of ${run.records}`,
        'journal',
        { module, runId: run.runId },
      );
    }
    remember(dir, { run: runKey(run), segments: run.journal, parts: [...parts], memo: [...memo] });
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
      // What this process will know of the journal once the checkpoint counting this segment is written (see
      // confirmed and read): a segment whose checkpoint never lands may be written again differently by another.
      const dir = this.store.describe(journalDirFor(this.config, this.module, run.runId));
      const known = this.unconfirmed ?? (run.journal === 0 ? undefined : READ_CACHE.get(dir));
      const base =
        known && known.run === runKey(run) && known.segments === run.journal
          ? known
          : { run: runKey(run), segments: 0, parts: [], memo: [] };
      this.unconfirmed =
        base.segments === run.journal
          ? {
              run: base.run,
              segments: run.journal + 1,
              parts: [...base.parts, ...segment.parts],
              memo: [...base.memo, ...this.closed],
            }
          : undefined;
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

  /** The checkpoint was written: what it counts of the journal is what this process knows for its next resume. */
  confirmed(run: RunInProgress): void {
    const u = this.unconfirmed;
    if (u && u.run === runKey(run) && u.segments === run.journal) {
      remember(this.store.describe(journalDirFor(this.config, this.module, run.runId)), u);
      this.unconfirmed = undefined;
    }
  }

  /** The run is read again from its start: its parts and entries are forgotten (segments are overwritten). */
  restart(run: RunInProgress): void {
    this.parts.length = 0;
    this.open = [];
    this.closed = [];
    this.journaled = 0;
    this.resume = undefined;
    this.unconfirmed = undefined;
    run.journal = 0;
    run.stored = { parts: 0, bytes: 0, rawBytes: 0 };
  }
}

/**
 * Deletes journal objects of `module`: every run's but `except`'s (what runs committed, reset or abandoned left
 * behind), or only `only`'s (a run just committed), or all of them. Housekeeping: a failure is logged, never fatal
 * (the next run tries again). Returns how many were deleted.
 */
/** A journal segment's key (`…/<runId>/journal-NNNNN.json`), as journalKeyFor makes them. */
export const isJournalKey = (key: string): boolean => /\/journal-\d+\.json$/.test(key);

export async function removeJournals(
  store: ObjectStore,
  config: AppConfig,
  module: ModuleName,
  which: { except: string } | { only: string } | 'all',
  logger?: Logger,
): Promise<number> {
  try {
    const dir = (runId?: string) => `${journalDirFor(config, module, runId)}/`;
    const listed =
      which === 'all' || 'only' in which
        ? await store.list(dir(which === 'all' ? undefined : which.only))
        : (await store.list(dir())).filter((k) => !k.startsWith(dir(which.except)));
    // Only journal segments: a run's folder also holds what its module keeps for the next run (export/scratch.ts).
    const keys = listed.filter(isJournalKey);
    if (keys.length) await store.delete(keys);
    return keys.length;
  } catch (err) {
    logger?.warn('could not remove journal objects; the next run tries again', {
      error: (err as Error).message,
    });
    return 0;
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
