import { EDR_TIME_FIELDS } from '../config';
import { S } from './shape';
import type { RunSetting } from './types';

/**
 * The shapes of EDR's cursor and committed state (checked when the state file is read: a committed window end that
 * is not a time must stop the run, not start a day's look-back again).
 */
const TIME_FIELD = S.literal(...EDR_TIME_FIELDS);
const IDS = S.array(S.string());

export const EDR_STATE = {
  cursor: S.object({
    from: S.time,
    to: S.time,
    filter: S.optional(S.string()),
    timeField: S.optional(TIME_FIELD),
    after: S.optional(
      S.oneOf(
        'null or the last instant reached {dateTime, ids}',
        S.literal(null),
        S.object({ dateTime: S.string(), ids: IDS }),
      ),
    ),
    skip: S.optional(IDS),
    recent: S.optional(IDS),
    overlapMs: S.optional(S.count),
    read: S.optional(S.count),
    windowCount: S.optional(
      S.oneOf(
        '{count} or {unavailable}',
        S.object({ count: S.count }),
        S.object({ unavailable: S.int({ min: 100, max: 599 }) }),
      ),
    ),
  }),
  committed: S.object({
    windowEnd: S.optional(S.time),
    timeField: S.optional(TIME_FIELD),
    recentIds: S.optional(IDS),
    coveredFrom: S.optional(S.time),
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
    env: 'QUALYS_EDR_TIME_FIELD',
    value: (c) => c.modules.edr.timeField,
    onChange: 'refuse',
    why: 'the window and its order are on that field',
  },
];
