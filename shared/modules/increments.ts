/**
 * Snapshots and increments, decided once at run start for every module that can read "only what changed since"
 * (VMDR Mobile, VMDR host detections, the KnowledgeBase). A snapshot reads everything; an increment reads from
 * where the previous complete run left off (`nextSince`, committed by that run) minus an overlap. A deployment
 * in incremental mode still takes a snapshot on its first run, when a setting that shapes the listing changed
 * since the last complete run (an increment would mix two listings), and every `snapshotEveryHours`: increments
 * never show what disappeared (a purged host, a host without detections left).
 */
import type { CommittedState, RunKind } from './types';

export interface RunPlan {
  kind: RunKind;
  /** Increments: where this one starts (epoch ms, the overlap already taken off). */
  sinceMs?: number;
  /** Snapshots of an incremental deployment: why this run is one. */
  reason?: string;
}

/** A setting an increment must share with the run it continues, and where that run committed it. */
export interface ShapingSetting {
  /** The variable, for the reason given (QUALYS_VMDR_STATUS). */
  name: string;
  /** Key in the committed state. */
  key: string;
  value: string | undefined;
}

export function planRun(opts: {
  incremental: boolean;
  committed: CommittedState | undefined;
  now: Date;
  /** Where a window that ends at "now" ends (shared/export/window.ts); default `now`. */
  end?: Date;
  overlapMinutes: number;
  snapshotEveryHours: number;
  shaping?: readonly ShapingSetting[];
  /** No increment starts before this instant (a configured floor). */
  floorMs?: number;
}): RunPlan {
  const { committed, now } = opts;
  if (!opts.incremental) return { kind: 'snapshot' };
  const nextSince = typeof committed?.nextSince === 'string' ? Date.parse(committed.nextSince) : NaN;
  if (Number.isNaN(nextSince))
    return { kind: 'snapshot', reason: 'first run: no complete run to continue from' };
  for (const s of opts.shaping ?? []) {
    const had = committed?.[s.key];
    if ((typeof had === 'string' ? had : undefined) !== s.value) {
      return { kind: 'snapshot', reason: `${s.name} changed since the last complete run` };
    }
  }
  const lastSnapshot =
    typeof committed?.lastSnapshotAt === 'string' ? Date.parse(committed.lastSnapshotAt) : NaN;
  if (
    opts.snapshotEveryHours > 0 &&
    (Number.isNaN(lastSnapshot) || now.getTime() - lastSnapshot >= opts.snapshotEveryHours * 3600_000)
  ) {
    return {
      kind: 'snapshot',
      reason: `the last snapshot started ${opts.snapshotEveryHours} or more hours ago`,
    };
  }
  const floor = opts.floorMs ?? -Infinity;
  // A committed start in the future (the clock moved back) never makes an increment start after its end.
  const endMs = (opts.end ?? now).getTime();
  const sinceMs = Math.max(floor, Math.min(nextSince, endMs) - opts.overlapMinutes * 60_000);
  return { kind: 'incremental', sinceMs };
}

/** The committed state after a run: where the next increment starts, and when the last snapshot was. */
export function commitPlan(
  kind: RunKind,
  nextSince: string,
  startedAt: string,
  previous: CommittedState | undefined,
  shaping: Record<string, string | undefined> = {},
): CommittedState {
  const lastSnapshotAt = kind === 'snapshot' ? startedAt : previous?.lastSnapshotAt;
  const kept = Object.fromEntries(Object.entries(shaping).filter(([, v]) => v !== undefined));
  return {
    kind,
    nextSince,
    ...(typeof lastSnapshotAt === 'string' ? { lastSnapshotAt } : {}),
    ...kept,
    completeThrough: startedAt,
  };
}

/** `YYYY-MM-DDTHH:MM:SSZ` (what the Qualys XML APIs take) for an instant, rounded down to the second. */
export function apiTime(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The end of a window that starts now: the run's start, rounded down to the second. One place to change when
 * windows should end at the earlier of the server's and our clock minus a lag (issue 19's helper).
 */
export function windowEnd(now: Date): string {
  return apiTime(now.getTime());
}
