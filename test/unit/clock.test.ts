import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NO_CLOCK_READING, ServerClock } from '../../shared/qualys/clock';
import { referenceTime } from '../../shared/export/window';

/** The Date header a server whose clock is `serverMs` writes: the current second, its fraction dropped. */
const dateHeader = (serverMs: number) => new Date(Math.floor(serverMs / 1000) * 1000).toUTCString();
const T = Date.parse('2026-12-06T12:00:00.000Z');

describe('the server clock from Date headers', () => {
  it('one response bounds the skew by the second and the round trip; more responses narrow it', () => {
    const clock = new ServerClock();
    // Server 15 minutes behind; the request left at T, headers arrived 80 ms later; generated at T + 30 ms.
    const skew = -900_000;
    clock.observe(dateHeader(T + 30 + skew), T, T + 80);
    const one = clock.reading(T + 100);
    expect(one.samples).toBe(1);
    expect(one.lowMs).toBeLessThanOrEqual(skew);
    expect(one.highMs).toBeGreaterThanOrEqual(skew);
    expect(one.highMs - one.lowMs).toBeLessThanOrEqual(1080);
    // Another response 400 ms later into the second narrows the interval.
    clock.observe(dateHeader(T + 1430 + skew), T + 1400, T + 1460);
    const two = clock.reading(T + 1500);
    expect(two.samples).toBe(2);
    expect(two.highMs - two.lowMs).toBeLessThan(one.highMs - one.lowMs);
    expect(two.lowMs).toBeLessThanOrEqual(skew);
    expect(two.highMs).toBeGreaterThanOrEqual(skew);
    expect(Math.abs(two.skewMs - skew)).toBeLessThan(1000);
    expect(Date.parse(two.lastServerNow!)).toBe(Math.floor((T + 1430 + skew) / 1000) * 1000);
  });

  it('whatever the skew, latency and moment in the second, the interval holds the true skew', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -3_600_000, max: 3_600_000 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 60_000 }), fc.nat(3000), fc.nat(3000)), {
          minLength: 1,
          maxLength: 20,
        }),
        (skew, requests) => {
          const clock = new ServerClock();
          let t = T;
          for (const [gap, toServer, back] of requests) {
            t += gap;
            clock.observe(dateHeader(t + toServer + skew), t, t + toServer + back);
            t += toServer + back;
          }
          const r = clock.reading(t);
          return r.lowMs <= skew && skew <= r.highMs && r.samples === requests.length;
        },
      ),
    );
  });

  it('a contradicting sample (a stepped clock) starts over; old or missing headers measure nothing', () => {
    const clock = new ServerClock(60_000);
    clock.observe(dateHeader(T), T, T + 10);
    clock.observe(dateHeader(T + 20 + 300_000), T + 20, T + 30); // the server's clock jumped 5 minutes
    expect(clock.reading(T + 40)).toMatchObject({ samples: 1 });
    expect(Math.abs(clock.reading(T + 40).skewMs - 300_000)).toBeLessThan(1000);
    expect(clock.reading(T + 120_000)).toEqual(NO_CLOCK_READING); // older than maxAge
    const none = new ServerClock();
    none.observe(null, T, T + 1);
    none.observe('not a date', T, T + 1);
    expect(none.reading(T + 2)).toEqual(NO_CLOCK_READING);
  });
});

describe('where a window that ends at now ends', () => {
  const local = new Date(T);
  const measured = (lowMs: number, highMs: number) => ({
    samples: 3,
    lowMs,
    highMs,
    skewMs: Math.round((lowMs + highMs) / 2),
  });

  it('Qualys proven behind: at its clock (the most-behind bound) minus the lag', () => {
    const r = referenceTime(local, measured(-900_600, -899_900), 60_000);
    expect(r).toMatchObject({ end: new Date(T - 900_600 - 60_000).toISOString(), lagMs: 60_000, samples: 3 });
    expect(r.serverNow).toBe(new Date(T - 900_250).toISOString());
  });

  it('Qualys ahead, or within what a Date header can tell: at our clock minus the lag', () => {
    for (const [lo, hi] of [
      [899_000, 900_100],
      [-700, 400],
    ]) {
      expect(referenceTime(local, measured(lo!, hi!), 60_000).end).toBe(new Date(T - 60_000).toISOString());
    }
  });

  it('nothing measured: our clock minus the lag, recorded as 0 samples and no server time', () => {
    const r = referenceTime(local, NO_CLOCK_READING, 30_000);
    expect(r).toEqual({
      end: new Date(T - 30_000).toISOString(),
      localNow: local.toISOString(),
      skewMs: 0,
      samples: 0,
      lagMs: 30_000,
    });
  });
});
