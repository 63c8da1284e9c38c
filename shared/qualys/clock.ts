/**
 * The Qualys server's clock, as measured from the `Date` header of every response the client receives.
 *
 * HTTP `Date` (RFC 9110 §6.6.1) has a resolution of one second and names the moment the server generated the
 * response, which lies somewhere between our sending the request and receiving its headers. Servers write the
 * current second, its fraction dropped. So one response with `Date: D`, sent at local time `s` and answered
 * (headers received) at local time `r`, says: the server's clock minus ours (the skew) lies in
 * `[D − r, D + 1 s − s]`. Each sample is such an interval; the samples are intersected, so the estimate tightens
 * as responses arrive (to the round trip and the second's resolution at worst). Samples that contradict the ones
 * before (a clock stepped by NTP, another server behind a load balancer with another clock) restart the
 * intersection from that sample: the newest word wins. Samples older than `maxAgeMs` are not trusted to describe
 * the clock now.
 */

/** What the client has measured about the server's clock (QualysClient.clock()). */
export interface ClockReading {
  /** Responses with a readable `Date` header that the current estimate rests on (0: nothing measured). */
  samples: number;
  /**
   * The server's clock minus ours, in ms: the middle of the interval the samples allow (0 when unmeasured).
   * Positive: the server is ahead of us.
   */
  skewMs: number;
  /** The interval the samples allow for the skew: `lowMs <= true skew <= highMs` (both 0 when unmeasured). */
  lowMs: number;
  highMs: number;
  /** The newest `Date` header, ISO (absent when unmeasured). */
  lastServerNow?: string;
  /** Local epoch ms of the newest sample (absent when unmeasured). */
  measuredAt?: number;
}

export const NO_CLOCK_READING: ClockReading = { samples: 0, skewMs: 0, lowMs: 0, highMs: 0 };

/** Date header resolution: one second. */
const RESOLUTION_MS = 1000;

export class ServerClock {
  private low = -Infinity;
  private high = Infinity;
  private samples = 0;
  private lastServerMs: number | undefined;
  private lastAt: number | undefined;

  constructor(private readonly maxAgeMs = 15 * 60_000) {}

  /**
   * One response: its `Date` header (ignored when absent or unreadable), the local time the request was sent
   * and the local time its headers arrived.
   */
  observe(date: string | null | undefined, sentAt: number, receivedAt: number): void {
    if (!date) return;
    const serverMs = Date.parse(date);
    if (!Number.isFinite(serverMs) || receivedAt < sentAt) return;
    const lo = serverMs - receivedAt;
    const hi = serverMs + RESOLUTION_MS - sentAt;
    const stale = this.lastAt !== undefined && receivedAt - this.lastAt > this.maxAgeMs;
    const low = Math.max(this.low, lo);
    const high = Math.min(this.high, hi);
    if (stale || low > high) {
      // Contradicts what was measured before (or what was measured is too old): start again from this one.
      this.low = lo;
      this.high = hi;
      this.samples = 1;
    } else {
      this.low = low;
      this.high = high;
      this.samples++;
    }
    this.lastServerMs = serverMs;
    this.lastAt = receivedAt;
  }

  /** The estimate at local time `now` (unmeasured when the newest sample is older than `maxAgeMs`). */
  reading(now: number): ClockReading {
    if (this.samples === 0 || this.lastAt === undefined || now - this.lastAt > this.maxAgeMs) {
      return NO_CLOCK_READING;
    }
    return {
      samples: this.samples,
      skewMs: Math.round((this.low + this.high) / 2),
      lowMs: Math.floor(this.low),
      highMs: Math.ceil(this.high),
      lastServerNow: new Date(this.lastServerMs!).toISOString(),
      measuredAt: this.lastAt,
    };
  }
}
