import { MODULES } from '../config';
import { QexportError } from '../errors';
import type { ModuleDef } from '../modules/types';
import { any, bool, differences, int, list, obj, opt, str, type Shape } from '../qualys/shapes';
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

/**
 * The state file's own vocabulary beside shared/qualys/shapes.ts (one checker for responses and state): an ISO time as
 * the exporter writes them, whose fields exist (Date.parse would roll 2026-02-30 over to March), a count, one of a
 * few words.
 */
const ISO_TIME =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/;
export const TIME: Shape = str({
  pattern: ISO_TIME,
  about: 'an ISO 8601 time (e.g. 2026-01-02T03:04:05.000Z)',
});
export const COUNT: Shape = int({ min: 0 });
/** One of `words`, exactly. */
export const word = (...words: readonly string[]): Shape =>
  str({
    pattern: new RegExp(`^(${words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`),
    about: `one of ${words.join(', ')}`,
  });

export const PART_INFO: Shape = obj({
  key: str({ nonEmpty: true }),
  records: COUNT,
  bytes: COUNT,
  rawBytes: COUNT,
  sha256: str({ pattern: /^[0-9a-f]{64}$/, about: 'a SHA-256 in hex' }),
});

/** What is wrong with a part description (`[field, problem]`), or undefined. */
export const partMisfit = (p: unknown, path: string): [string, string] | undefined => {
  const d = differences(PART_INFO, p)[0];
  return d === undefined ? undefined : splitDifference(d, path);
};

/** `a.b: expected …, got …` → [`<prefix>.a.b`, `expected …, got …`]. */
function splitDifference(d: string, prefix = ''): [string, string] {
  const at = d.indexOf(': ');
  const path = d.slice(0, at);
  const field = path === '(body)' ? prefix : prefix ? `${prefix}.${path}` : path;
  return [field, d.slice(at + 2)];
}

/** The lease: who may write the module's data now, and until when (and, for a local process, which one). */
export const LEASE: Shape = obj({
  owner: str({ nonEmpty: true }),
  expiresAt: TIME,
  process: opt(
    obj({
      host: str({ nonEmpty: true }),
      boot: opt(TIME),
      pidns: opt(str()),
      pid: int({ min: 1 }),
      start: opt(str()),
    }),
  ),
});

/** The whole state file of `module`, from the module's declared cursor and committed shapes. */
export function stateShape(module: ModuleDef): Shape {
  const { cursor, committed } = module.state;
  const committedFields = committed.t === 'object' ? committed.fields : {};
  return obj({
    module: word(...MODULES),
    committed: opt(
      obj({
        ...committedFields,
        runId: opt(str({ nonEmpty: true })),
        completedAt: opt(TIME),
        completeThrough: opt(TIME),
        backfills: opt(list(obj({ from: TIME, to: TIME, runId: str({ nonEmpty: true }) }))),
      }),
    ),
    inProgress: opt(
      obj({
        runId: str({ pattern: /^[^/\\]+$/, about: 'a run id' }),
        dt: str({ pattern: /^\d{4}-\d\d-\d\d$/, about: 'a date (YYYY-MM-DD)' }),
        startedAt: TIME,
        startCursor: cursor,
        cursor,
        records: COUNT,
        stored: opt(obj({ parts: COUNT, bytes: COUNT, rawBytes: COUNT })),
        journal: opt(COUNT),
        /** Checkpoints written before runs had a journal list their parts here. */
        parts: opt(list(PART_INFO)),
        apiCalls: COUNT,
        retries: COUNT,
        invocations: int({ min: 1 }),
        rereads: opt(COUNT),
        listed: opt(bool()),
        schemaDrift: opt(obj({ records: COUNT, fields: list(str()) })),
        backfill: opt(obj({ from: TIME, to: TIME })),
        /** Variable → its text, or null when unset (checked below: the vocabulary has no maps). */
        settings: opt(any()),
        lastError: opt(obj({ code: str(), message: str(), at: TIME })),
      }),
    ),
    lease: opt(LEASE),
  });
}

const TOP = ['module', 'committed', 'inProgress', 'lease'];
/** Fields whose absence the exporter reads as `undefined`: a null there is damage, not "absent". */
const NOT_NULL: Record<string, readonly string[]> = {
  '': TOP,
  inProgress: [
    'stored',
    'journal',
    'parts',
    'rereads',
    'listed',
    'schemaDrift',
    'backfill',
    'settings',
    'lastError',
  ],
  lease: ['process'],
};

/**
 * Checks a state file read from `where` against `module`'s shape: returns it typed, or throws StateDamagedError
 * naming the field. Beyond the shape: the file has only the four fields a state file has, no null where the
 * exporter reads "absent", a value per setting, the file is `module`'s, a run's journal fields come together, and a
 * checkpoint of a run that stored parts says where they are.
 */
export function validateState(raw: unknown, module: ModuleDef, where: string): StateFile {
  const refuse = (field: string | undefined, problem: string) =>
    stateError(where, problem, 'state', { module: module.name, field });
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw refuse(undefined, 'it is not a JSON object');
  const file = raw as Record<string, unknown>;
  const extra = Object.keys(file).find((k) => !TOP.includes(k));
  if (extra !== undefined) throw refuse(extra, 'is not a field a state file has');
  for (const [at, keys] of Object.entries(NOT_NULL)) {
    const o = (at ? file[at] : file) as Record<string, unknown> | undefined;
    const k = o && typeof o === 'object' ? keys.find((key) => o[key] === null) : undefined;
    if (k !== undefined) throw refuse(at ? `${at}.${k}` : k, 'is null');
  }
  const d = differences(stateShape(module), raw)[0];
  if (d !== undefined) {
    const [field, problem] = splitDifference(d);
    const value = valueAt(raw, field);
    throw refuse(field, value === undefined ? problem : `${problem} (${shown(value)})`);
  }
  const state = raw as StateFile;
  if (state.module !== module.name)
    throw refuse('module', `it is the state of ${JSON.stringify(state.module)}, not of ${module.name}`);
  const run = state.inProgress;
  if (run) {
    for (const [k, v] of Object.entries(run.settings ?? {}))
      if (v !== null && typeof v !== 'string')
        throw refuse(`inProgress.settings.${k}`, `expected text or null (${shown(v)})`);
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

/** The value at `a.b[2].c` in `v`. */
function valueAt(v: unknown, path: string): unknown {
  let at: unknown = v;
  for (const step of path.split(/\.|(?=\[)/).filter(Boolean)) {
    if (at === null || typeof at !== 'object') return undefined;
    const i = /^\[(\d+)\]$/.exec(step);
    at = i ? (at as unknown[])[Number(i[1])] : (at as Record<string, unknown>)[step];
  }
  return at;
}

const shown = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return `the file has ${text.length > 60 ? `${text.slice(0, 57)}…` : text}`;
};
