/**
 * Pacing before being blocked. Qualys counts calls per API endpoint per window and reports the state on every
 * response (`X-RateLimit-Limit`, `-Remaining`, `-Window-Sec`, `-ToWait-Sec`). The pacer keeps that state per
 * endpoint family (origin + path) and, before each call, answers "how long to hold it":
 *
 * - while the estimated calls left in the window exceed the reserve: send at once;
 * - once they fall to the reserve: spread the calls left evenly over the rest of the window, so the budget is
 *   not burnt and then slept on, and a spaced call that finds the window already reset (Remaining went up)
 *   returns to full speed;
 * - with none left: wait for the window to reset, never sending into a block (409 1965, whose penalty can be
 *   hours).
 *
 * The estimate is the remaining count of the newest response (by send order) minus the calls sent after that
 * one. The reset time is an upper bound: the receive time of the first response seen in the window plus
 * Window-Sec (the server's window started before that response was answered), or receive time plus
 * ToWait-Sec when the server states it. The reserve is capped at half the window's limit, so a small limit
 * still allows a burst.
 *
 * It also tracks the server's concurrency limit (`X-Concurrency-Limit-Limit`, or `X-ConcurrencyLimit-Limit`).
 */
import { readLimitHeaders } from './limits';

interface FamilyState {
  /** Calls sent so far (the send sequence). */
  sent: number;
  /** Newest observation by send sequence. */
  obs?: { seq: number; remaining: number };
  limit?: number;
  windowSec?: number;
  /** Upper bound of when the current window ends (epoch ms). */
  resetAt?: number;
  /** When the last call to this family was sent (epoch ms). */
  lastSentAt?: number;
  /** The window was assumed to have reset; the next observation dates the new one. */
  awaitingWindowStart: boolean;
}

export interface PacerOptions {
  /** Calls left in a window below which calls are spread (QUALYS_RATE_RESERVE). */
  reserve: number;
  now: () => number;
}

export interface PaceDecision {
  /** ms to hold the call; 0 = send now. */
  delayMs: number;
  /** Calls left in the window as estimated, when known. */
  estimate?: number;
}

export class Pacer {
  private readonly families = new Map<string, FamilyState>();
  private serverConcurrency: number | undefined;

  constructor(private readonly opts: PacerOptions) {}

  /** Limits are counted per API endpoint: the family is origin + path (no query). */
  static family(url: URL): string {
    return `${url.origin}${url.pathname}`;
  }

  private state(family: string): FamilyState {
    let s = this.families.get(family);
    if (!s) {
      s = { sent: 0, awaitingWindowStart: false };
      this.families.set(family, s);
    }
    return s;
  }

  private effectiveReserve(s: FamilyState): number {
    const r = Math.max(0, this.opts.reserve);
    return s.limit !== undefined ? Math.min(r, Math.floor(s.limit / 2)) : r;
  }

  /** Calls left in the window, as estimated now (undefined = nothing known yet). */
  estimate(family: string): number | undefined {
    const s = this.state(family);
    if (!s.obs) return undefined;
    const now = this.opts.now();
    if (s.resetAt !== undefined && now >= s.resetAt) {
      // The window has ended: start counting from a full one; the next response dates it.
      if (s.limit === undefined) return undefined;
      s.obs = { seq: s.sent, remaining: s.limit };
      s.resetAt = undefined;
      s.awaitingWindowStart = true;
    }
    return s.obs.remaining - (s.sent - s.obs.seq);
  }

  /** How long to hold the next call to `family`. */
  decide(family: string): PaceDecision {
    const s = this.state(family);
    const estimate = this.estimate(family);
    if (estimate === undefined || estimate > this.effectiveReserve(s)) return { delayMs: 0, estimate };
    if (s.resetAt === undefined) {
      // Nothing dates the window (no Window-Sec, or its first answer is still out): send, and learn.
      return { delayMs: 0, estimate };
    }
    const now = this.opts.now();
    if (estimate <= 0) return { delayMs: Math.max(1, s.resetAt - now), estimate };
    // Spread what is left over the rest of the window.
    const interval = Math.max(0, s.resetAt - now) / estimate;
    const next = (s.lastSentAt ?? Number.NEGATIVE_INFINITY) + interval;
    return { delayMs: Math.max(0, Math.ceil(next - now)), estimate };
  }

  /** Records that a call to `family` is being sent now; returns its send sequence for `observe`. */
  sent(family: string): number {
    const s = this.state(family);
    s.lastSentAt = this.opts.now();
    return ++s.sent;
  }

  /** Learns from the headers of the answer to call `seq` (any status), received at `receivedAt`. */
  observe(family: string, seq: number, headers: Headers, receivedAt: number): void {
    const h = readLimitHeaders(headers);
    if (h.concurrency !== undefined && h.concurrency >= 1) this.serverConcurrency = h.concurrency;
    if (h.remaining === undefined) return;
    const s = this.state(family);
    if (h.limit !== undefined) s.limit = h.limit;
    if (h.windowSec !== undefined && h.windowSec > 0) s.windowSec = h.windowSec;
    if (s.obs && seq < s.obs.seq) return; // an older answer arriving late says nothing newer
    const expected = s.obs ? s.obs.remaining - (seq - s.obs.seq) : undefined;
    const newWindow =
      s.awaitingWindowStart ||
      expected === undefined ||
      h.remaining > expected ||
      (s.resetAt !== undefined && receivedAt >= s.resetAt);
    s.obs = { seq, remaining: h.remaining };
    if (newWindow) {
      s.awaitingWindowStart = false;
      s.resetAt = s.windowSec !== undefined ? receivedAt + s.windowSec * 1000 : undefined;
    }
    if (h.toWaitSec !== undefined && h.toWaitSec > 0) s.resetAt = receivedAt + h.toWaitSec * 1000;
  }

  /** The server's concurrency limit, once a response stated it. */
  concurrencyLimit(): number | undefined {
    return this.serverConcurrency;
  }
}

/** A FIFO semaphore whose limit can be lowered or raised while in use (the server states its own limit). */
export class AdjustableSemaphore {
  private active = 0;
  private readonly waiters: (() => void)[] = [];
  constructor(private limit: number) {}

  setLimit(limit: number): void {
    this.limit = Math.max(1, limit);
    this.wake();
  }

  inFlight(): number {
    return this.active;
  }

  private wake(): void {
    while (this.active < this.limit && this.waiters.length) {
      this.active++;
      this.waiters.shift()!();
    }
  }

  async acquire(): Promise<() => void> {
    if (this.active < this.limit && this.waiters.length === 0) this.active++;
    else await new Promise<void>((r) => this.waiters.push(r));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.wake();
    };
  }
}
