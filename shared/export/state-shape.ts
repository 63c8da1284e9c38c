import { MODULES } from '../config';
import { QexportError } from '../errors';
import type { ModuleDef } from '../modules/types';
import { misfit, S, type Shape } from '../modules/shape';
import type { StateFile } from './types';

/**
 * The state file's declared shape (issue 19 item 5): one checker for the whole file, with the cursor and committed
 * shapes each module declares (`ModuleDef.state`). A file that does not fit is refused with the file, the field and
 * the remedy; nothing is read from it and nothing is written over it. A file that is not JSON at all is refused the
 * same way (see StateRef.read).
 */
export class StateDamagedError extends QexportError {
  constructor(
    message: string,
    /** Where the damaged object is (s3://… or a path). */
    readonly where: string,
    /** The field that is wrong, e.g. `committed.windowEnd`; undefined when the whole object is. */
    readonly field?: string,
  ) {
    super('state', message);
  }
}

const pad = (s: string) => s.replace(/\.$/, '');

/** How to start over from a damaged state file of `module`. */
export function stateFileRemedy(module: string, where: string): string {
  return (
    `move ${where} aside, or run \`qexport state reset ${module} --all --yes\` (with the same --out) to replace it: ` +
    `the next run of ${module} starts from the beginning` +
    (module === 'edr-events' ? ' (EDR: its initial look-back)' : '')
  );
}

/** The error for a damaged state file or journal object: what, where, and the remedy. */
export function stateError(
  where: string,
  problem: string,
  kind: 'state' | 'journal',
  opts: { module?: string; field?: string; runId?: string } = {},
): StateDamagedError {
  const module = opts.module ?? '<module>';
  const field = opts.field ? `${opts.field}: ` : '';
  const message =
    kind === 'state'
      ? `state file ${where} is damaged: ${field}${pad(problem)}. Nothing was read from it or written to it; ` +
        stateFileRemedy(module, where)
      : `the journal of run ${opts.runId ?? '?'} (${where}) ${field}${pad(problem)}: the run cannot be resumed. ` +
        `\`qexport state reset ${module} --yes\` (with the same --out) abandons it: its unpublished parts are ` +
        'deleted and what earlier runs committed is kept';
  return new StateDamagedError(message, where, opts.field);
}

/** A module found the journal it was handed inconsistent with the checkpoint it resumes. */
export function journalMismatch(module: string, problem: string): StateDamagedError {
  return new StateDamagedError(
    `the journal of the ${module} run in progress ${problem}: the run cannot be resumed. ` +
      `\`qexport state reset ${module} --yes\` (with the same --out) abandons it: its unpublished parts are deleted ` +
      'and what earlier runs committed is kept',
    'journal',
  );
}

export const PART_INFO: Shape = S.object({
  key: S.string({ max: 1024 }),
  records: S.count,
  bytes: S.count,
  rawBytes: S.count,
  sha256: S.string({ pattern: /^[0-9a-f]{64}$/, what: 'a SHA-256 in hex' }),
});

/** What is wrong with a part description (`[field, problem]`), or undefined. */
export const partMisfit = (p: unknown, path: string) => misfit(p, PART_INFO, path);

const WINDOW = S.object({ from: S.time, to: S.time });
const COUNT = S.count;
const opt = S.optional;

/** The lease: who may write the module's data now, and until when (and, for a local process, which one). */
export const LEASE: Shape = S.object({
  owner: S.string({ max: 512 }),
  expiresAt: S.time,
  process: opt(
    S.object({
      host: S.string({ max: 255 }),
      boot: opt(S.time),
      pidns: opt(S.string({ max: 64 })),
      pid: S.int({ min: 1 }),
      start: opt(S.string({ max: 64 })),
    }),
  ),
});

/** The whole state file of `module`, from the module's declared cursor and committed shapes. */
export function stateShape(module: ModuleDef): Shape {
  const { cursor, committed } = module.state;
  const committedFields = committed.t === 'object' ? committed.fields : {};
  return S.object(
    {
      module: S.literal(...MODULES),
      committed: opt(
        S.object({
          ...committedFields,
          runId: opt(S.string({ max: 256 })),
          completedAt: opt(S.time),
          completeThrough: opt(S.time),
          backfills: opt(S.array(S.object({ from: S.time, to: S.time, runId: S.string({ max: 256 }) }))),
        }),
      ),
      inProgress: opt(
        S.object({
          runId: S.string({ max: 256, pattern: /^[^/\\]+$/, what: 'a run id' }),
          dt: S.string({ pattern: /^\d{4}-\d\d-\d\d$/, what: 'a date (YYYY-MM-DD)' }),
          startedAt: S.time,
          startCursor: cursor,
          cursor,
          records: COUNT,
          stored: opt(S.object({ parts: COUNT, bytes: COUNT, rawBytes: COUNT })),
          journal: opt(COUNT),
          /** Checkpoints written before runs had a journal list their parts here. */
          parts: opt(S.array(PART_INFO)),
          apiCalls: COUNT,
          retries: COUNT,
          invocations: S.int({ min: 1 }),
          rereads: opt(COUNT),
          listed: opt(S.literal(true)),
          schemaDrift: opt(S.object({ records: COUNT, fields: S.array(S.string()) })),
          backfill: opt(WINDOW),
          settings: opt(S.record(S.oneOf('a setting value (text or null)', S.string(), S.literal(null)))),
          lastError: opt(S.object({ code: S.string(), message: S.string(), at: S.time })),
        }),
      ),
      lease: opt(LEASE),
    },
    { closed: true },
  );
}

/**
 * Checks a state file read from `where` against `module`'s shape: returns it typed, or throws StateDamagedError
 * naming the field. Beyond the shape: the file must be `module`'s, a run's journal fields come together, and a
 * checkpoint of a run that stored parts says where they are.
 */
export function validateState(raw: unknown, module: ModuleDef, where: string): StateFile {
  const refuse = (field: string | undefined, problem: string) =>
    stateError(where, problem, 'state', { module: module.name, field });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw refuse(undefined, 'it is not a JSON object');
  const m = misfit(raw, stateShape(module), '');
  if (m) throw refuse(m[0], m[1]);
  const state = raw as StateFile;
  if (state.module !== module.name)
    throw refuse('module', `it is the state of ${JSON.stringify(state.module)}, not of ${module.name}`);
  const run = state.inProgress;
  if (run) {
    const journaled = run.stored !== undefined && run.journal !== undefined;
    if (!journaled && (run.stored !== undefined || run.journal !== undefined))
      throw refuse('inProgress.journal', 'stored and journal must come together');
    if (!journaled && run.parts === undefined)
      throw refuse('inProgress.stored', 'is missing (the run does not say what it stored)');
    if (journaled && run.stored!.parts > 0 && run.journal === 0)
      throw refuse('inProgress.journal', `0 segments hold ${run.stored!.parts} stored parts`);
  }
  return state;
}
