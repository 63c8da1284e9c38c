import { EDR_STATES, EDR_TIME_FIELDS } from '../config';
import { COUNT, TIME, word } from '../export/state-shape';
import { int, list, obj, oneOf, opt, str } from '../qualys/shapes';
import { REFERENCE_TIME } from './state-shapes';
import type { RunSetting } from './types';

/**
 * The shapes of EDR's cursor and committed state (checked when the state file is read: a committed window end that
 * is not a time must stop the run, not start a day's look-back again).
 */
const TIME_FIELD = word(...EDR_TIME_FIELDS);
const IDS = list(str());
const BASE64 = str({ pattern: /^[A-Za-z0-9+/]*={0,2}$/, about: 'base64' });
/** Fingerprints beside the state file, named by a reference (shared/modules/fingerprints.ts SpilledFingerprints). */
const SPILLED = obj({
  runId: str({ nonEmpty: true }),
  name: str({ nonEmpty: true }),
  segments: COUNT,
  count: COUNT,
  digest: str({ pattern: /^([0-9a-f]{64})?$/, about: 'a SHA-256 digest' }),
});
/** A fingerprint list ({inline, spilled?}), or the plain id list of an older version. */
const FINGERPRINTS = oneOf(
  'a fingerprint list ({inline, spilled?}) or a list of ids',
  obj({ inline: BASE64, spilled: opt(SPILLED) }),
  IDS,
);

export const EDR_STATE = {
  cursor: obj({
    from: TIME,
    to: TIME,
    filter: opt(str()),
    timeField: opt(TIME_FIELD),
    state: opt(word(...EDR_STATES)),
    // null before the first event (the vocabulary reads null as absent).
    after: opt(obj({ dateTime: str(), seen: opt(FINGERPRINTS), ids: opt(IDS) })),
    skip: opt(FINGERPRINTS),
    recent: opt(FINGERPRINTS),
    overlapMs: opt(COUNT),
    read: opt(COUNT),
    identity: opt(obj({ repeats: COUNT, sharedIds: COUNT, previousRun: COUNT })),
    windowCount: opt(
      oneOf('{count} or {unavailable}', obj({ count: COUNT }), obj({ unavailable: int({ min: 100 }) })),
    ),
    clock: opt(REFERENCE_TIME),
    spills: opt(COUNT),
  }),
  committed: obj({
    windowEnd: opt(TIME),
    timeField: opt(TIME_FIELD),
    recentIds: opt(IDS),
    overlap: opt(FINGERPRINTS),
    coveredFrom: opt(TIME),
    completeThrough: opt(TIME),
  }),
};

/** The settings that shape an EDR run (see export/settings.ts). */
export const EDR_RUN_SETTINGS: RunSetting[] = [
  {
    env: 'QUALYS_EDR_PAGE_SIZE',
    value: (c) => String(c.modules.edr.pageSize),
    onChange: 'apply',
    why: 'the scroll reopens from the last instant reached, whatever the page size',
  },
  {
    env: 'QUALYS_EDR_FILTER',
    value: (c) => c.modules.edr.filter,
    onChange: 'refuse',
    why: "it decides which events are listed (and what the window's count is asked about)",
  },
  {
    env: 'QUALYS_EDR_STATE',
    value: (c) => c.modules.edr.state,
    onChange: 'refuse',
    why: 'it decides which events are listed',
  },
  {
    env: 'QUALYS_EDR_TIME_FIELD',
    value: (c) => c.modules.edr.timeField,
    onChange: 'refuse',
    why: 'the window and its order are on that field',
  },
];
