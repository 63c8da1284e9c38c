/**
 * The shapes of what the XML truncation modules keep in the state file, in the vocabulary of
 * shared/qualys/shapes.ts: their cursors (checkpointed mid-run) and what they commit at the end of a run. A state
 * file read back can be checked against them before a run resumes from it (issue 19: a damaged state is refused,
 * never half-trusted). Objects are open: a field added by a later version is not an error here.
 */
import { bool, int, num, obj, oneOf, opt, str, type Field, type Shape } from '../qualys/shapes';

const DECIMAL = /^\d{1,30}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const API_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

const decimal = str({ pattern: DECIMAL, about: 'a decimal id' });
const iso = str({ pattern: ISO, about: 'an ISO time' });
const apiTime = str({ pattern: API_TIME, about: 'a time as YYYY-MM-DDTHH:MM:SSZ' });
const kind = str({ pattern: /^(snapshot|incremental)$/, about: "'snapshot' or 'incremental'" });

/** Our request parameters: an object of strings (never a URL). */
const params: Shape = obj({ action: str({ nonEmpty: true }) });

/** The paginator's own fields (shared/modules/xml-truncation.ts TruncationCursor). */
const truncationFields: Record<string, Shape | Field> = {
  params,
  /** null (the first request) reads as absent. */
  idMin: opt(decimal),
  done: opt(bool()),
  batches: int({ min: 0 }),
  lastId: opt(decimal),
  lastDigest: opt(str({ nonEmpty: true })),
  mid: opt(bool()),
  skip: opt(int({ min: 0 })),
  chain: opt(str({ pattern: /^[0-9a-f]{8}$/, about: 'an 8-digit hex hash' })),
  unordered: opt(bool()),
  relied: opt(bool()),
  repeats: opt(int({ min: 0 })),
  lacking: opt(int({ min: 0 })),
  lackingKeys: opt({ t: 'list', of: str() }),
  rehomed: opt(int({ min: 0 })),
  rehomedFrom: opt({ t: 'list', of: str() }),
};

export const TRUNCATION_CURSOR: Shape = obj(truncationFields);

/** vmdr-detections: the paginator's fields, the API version and the run's window. */
export const VMDR_CURSOR: Shape = obj({
  ...truncationFields,
  version: str({ pattern: /^\d+\.\d+$/, about: 'an API version such as 5.0' }),
  versions: opt({ t: 'list', of: str() }),
  kind,
  startedAt: iso,
  since: opt(apiTime),
  before: apiTime,
  overlapMinutes: opt(int({ min: 0 })),
  snapshotReason: opt(str()),
  filters: str({ nonEmpty: true }),
});

/** knowledgebase: the paginator's fields, the API version, the run's window and the newest modification seen. */
export const KB_CURSOR: Shape = obj({
  ...truncationFields,
  version: str({ pattern: /^\d+\.\d+$/, about: 'an API version such as 4.0' }),
  versions: opt({ t: 'list', of: str() }),
  kind,
  startedAt: iso,
  since: opt(apiTime),
  overlapMinutes: opt(int({ min: 0 })),
  snapshotReason: opt(str()),
  filters: str({ nonEmpty: true }),
  newest: opt(apiTime),
});

/** mobile-assets (checkpoints of earlier versions, with a `url`, are upgraded when read: see mobile-assets.ts). */
/** The reference time a window was fixed by (shared/export/window.ts ReferenceTime). */
export const REFERENCE_TIME: Shape = obj({
  end: iso,
  localNow: iso,
  serverNow: opt(iso),
  skewMs: num(),
  samples: int({ min: 0 }),
  lagMs: int({ min: 0 }),
});

export const MOBILE_CURSOR: Shape = obj({
  ...truncationFields,
  truncationLimit: int({ min: 1 }),
  kind: opt(kind),
  startedAt: opt(iso),
  clock: opt(REFERENCE_TIME),
  since: opt(apiTime),
  before: opt(apiTime),
});

/** A mobile-assets cursor of an earlier version (a truncation URL instead of parameters): upgraded when read. */
const MOBILE_CURSOR_BEFORE: Shape = obj({
  url: opt(str({ pattern: /^https?:\/\//, about: 'a URL' })),
  truncationLimit: int({ min: 1 }),
  kind: opt(kind),
  startedAt: opt(iso),
  since: opt(apiTime),
  before: opt(apiTime),
  lastId: opt(decimal),
  batches: opt(int({ min: 0 })),
});

/** What mobile-assets may find in its state file mid-run: its cursor, or one of an earlier version. */
export const MOBILE_STATE_CURSOR: Shape = oneOf(
  'a mobile-assets cursor (this version, or an earlier one with a truncation URL)',
  MOBILE_CURSOR,
  MOBILE_CURSOR_BEFORE,
);

/** What a snapshot-or-increment module commits (shared/modules/increments.ts commitPlan). */
export const INCREMENT_COMMITTED: Shape = obj({
  kind,
  nextSince: str({ pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, about: 'a time' }),
  lastSnapshotAt: opt(iso),
  completeThrough: iso,
});

/** What mobile-assets commits: as above, or (a run of an earlier version) any of it, or nothing. */
export const MOBILE_COMMITTED: Shape = obj({
  kind: opt(kind),
  nextSince: opt(str({ pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, about: 'a time' })),
  lastSnapshotAt: opt(iso),
  completeThrough: opt(iso),
  floor: opt(str()),
  includeFields: opt(str()),
});
