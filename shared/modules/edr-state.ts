import { EDR_TIME_FIELDS } from '../config';
import { COUNT, TIME, word } from '../export/state-shape';
import { int, list, obj, oneOf, opt, str } from '../qualys/shapes';
import type { RunSetting } from './types';

/**
 * The shapes of EDR's cursor and committed state (checked when the state file is read: a committed window end that
 * is not a time must stop the run, not start a day's look-back again).
 */
const TIME_FIELD = word(...EDR_TIME_FIELDS);
const IDS = list(str());

export const EDR_STATE = {
  cursor: obj({
    from: TIME,
    to: TIME,
    filter: opt(str()),
    timeField: opt(TIME_FIELD),
    // null before the first event (the vocabulary reads null as absent).
    after: opt(obj({ dateTime: str(), ids: IDS })),
    skip: opt(IDS),
    recent: opt(IDS),
    overlapMs: opt(COUNT),
    read: opt(COUNT),
    windowCount: opt(
      oneOf('{count} or {unavailable}', obj({ count: COUNT }), obj({ unavailable: int({ min: 100 }) })),
    ),
  }),
  committed: obj({
    windowEnd: opt(TIME),
    timeField: opt(TIME_FIELD),
    recentIds: opt(IDS),
    coveredFrom: opt(TIME),
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
