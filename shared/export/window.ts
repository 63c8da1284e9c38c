import type { AppConfig } from '../config';
import { ConfigError } from '../errors';
import type { TimeWindow } from '../modules/types';
import type { ClockReading } from '../qualys/clock';
import type { QualysClient, QualysRequest } from '../qualys/types';

/** `{from, to}` ISO instants, from before to → a normalised window; anything else names `what`. */
export function parseWindow(value: unknown, what: string): TimeWindow {
  const w = value as { from?: unknown; to?: unknown } | null;
  const ms = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : NaN);
  const from = ms(w?.from);
  const to = ms(w?.to);
  if (!w || typeof w !== 'object' || Number.isNaN(from) || Number.isNaN(to)) {
    throw new ConfigError(
      `${what} must be {"from": "<ISO time>", "to": "<ISO time>"}, e.g. {"from":"2026-11-01T00:00:00Z","to":"2026-11-02T00:00:00Z"}`,
    );
  }
  if (from >= to)
    throw new ConfigError(`${what}: from (${String(w.from)}) must be before to (${String(w.to)})`);
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

/**
 * Where a window that ends at "now" ends, and what that rests on. Recorded in the run (EDR's and Mobile's
 * `range.clock` in the manifest), so a resumed or re-read run asks for exactly the same window.
 */
export interface ReferenceTime {
  /** ISO: the instant the window ends: the earlier of our clock and the server's, minus the indexing lag. */
  end: string;
  /** Our clock when the run started (ISO). */
  localNow: string;
  /** The server's clock at that moment as measured (ISO); absent when no response told it. */
  serverNow?: string;
  /** The server's clock minus ours (ms, the middle of what the Date headers allow; 0 when unmeasured). */
  skewMs: number;
  /** Responses with a Date header the measurement rests on (0: unmeasured, our clock alone was used). */
  samples: number;
  /** The indexing lag the window ends short of the earlier clock (ms). */
  lagMs: number;
}

/**
 * The one rule for every window that ends at "now" (EDR, Mobile increments; VMDR detections and the KnowledgeBase
 * next): it ends at the earlier of our clock and the server's, minus the indexing lag. Events become visible in
 * the API only once the server has processed and indexed them, by the server's clock; a window that ends at our
 * clock while the server's is behind would claim (and, with a count taken on the same window, "prove") a span the
 * server has not filled yet, and the next window, starting an overlap before that end, would never read what the
 * server fills in later beyond the overlap.
 *
 * The skew counts only when the Date headers prove the server behind (the whole interval below zero), and then at
 * its most-behind bound. A skew within the header's resolution (1 s plus the round trip) is indistinguishable from
 * none and is left to the lag, which is far larger (QUALYS_EDR_INDEXING_LAG_SECONDS, default 60 s).
 */
export function referenceTime(localNow: Date, clock: ClockReading, lagMs: number): ReferenceTime {
  const local = localNow.getTime();
  const behindMs = clock.samples > 0 && clock.highMs < 0 ? clock.lowMs : 0;
  return {
    end: new Date(local + behindMs - lagMs).toISOString(),
    localNow: localNow.toISOString(),
    ...(clock.samples > 0 ? { serverNow: new Date(local + clock.skewMs).toISOString() } : {}),
    skewMs: clock.skewMs,
    samples: clock.samples,
    lagMs,
  };
}

/** What a module whose windows end at "now" declares for the rule above (ModuleDef.window). */
export interface WindowDeclaration {
  /** The indexing lag a window ends short of the earlier clock (ms). */
  lagMs(config: AppConfig): number;
  /** How far each window reaches back before the previous one ended (ms): a skew beyond it is reported. */
  overlapMs(config: AppConfig): number;
  /**
   * A cheap request whose response (any status: only its Date header is read) tells the server's time before
   * the window is fixed, when the client has not measured it yet; undefined when this configuration has no
   * window ending at now (e.g. Mobile in snapshot mode).
   */
  probe(config: AppConfig, now: Date): QualysRequest | undefined;
}

/** 4xx answers that still carry a Date header and need no reaction: the probe only reads the clock. */
const PROBE_ACCEPTS = [400, 403, 404, 405, 410, 414, 422] as const;

/**
 * The reference time of a new run of a module with windows: the module's probe is sent first when the client
 * has no recent measurement of the server's clock (a fresh Lambda invocation has none; the CLI measured it on the
 * run before). A probe that meets a network or server failure fails the start like any request (nothing is
 * written); one without a Date header leaves our clock as the reference, recorded as `samples: 0`.
 */
export async function referenceTimeFor(
  window: WindowDeclaration,
  config: AppConfig,
  client: QualysClient,
  now: Date,
): Promise<ReferenceTime> {
  if (client.clock().samples === 0) {
    const probe = window.probe(config, now);
    if (probe) {
      await client.call(
        { label: 'server time probe', ...probe, acceptStatuses: PROBE_ACCEPTS },
        () => undefined,
      );
    }
  }
  return referenceTime(now, client.clock(), window.lagMs(config));
}

/** Whether a skew exceeds the module's overlap, either way (a metric, an alarm and a CLI warning). */
export function skewBeyondOverlap(skewMs: number, overlapMs: number): boolean {
  return Math.abs(skewMs) > overlapMs;
}

/**
 * One line for an operator when the measured skew exceeds the module's overlap (the CLI prints it; Lambda
 * reports the ClockSkewBeyondOverlap metric instead); undefined otherwise.
 */
export function skewWarning(
  window: WindowDeclaration,
  config: AppConfig,
  clock: ClockReading,
): string | undefined {
  const overlapMs = window.overlapMs(config);
  if (clock.samples === 0 || !skewBeyondOverlap(clock.skewMs, overlapMs)) return undefined;
  const minutes = (ms: number) => `${Math.round(Math.abs(ms) / 6000) / 10} min`;
  return (
    `Qualys's clock is ${minutes(clock.skewMs)} ${clock.skewMs < 0 ? 'behind' : 'ahead of'} this machine's ` +
    `(Date headers of ${clock.samples} responses), more than the ${minutes(overlapMs)} overlap of consecutive ` +
    'windows. Windows end by the earlier clock, so nothing is lost, but times that only this machine knows (its ' +
    'logs, leases, freshness) are off by as much: check its clock (NTP)'
  );
}
