/**
 * Node's timers hold a 32-bit delay: above 2^31 - 1 ms (about 24.8 days) setTimeout fires at once, with only a
 * warning. A rate-limit wait can be that long (the API states it; the fallback is a setting), so every sleep of
 * the product goes through here and a long one is taken in pieces.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves after `ms` (any length), in pieces no timer can overflow; `now` decides what is left after each. */
export async function sleep(ms: number, now: () => number = Date.now, piece = MAX_TIMER_MS): Promise<void> {
  const end = now() + ms;
  for (let left = ms; left > 0; left = end - now()) {
    await new Promise<void>((resolve) => setTimeout(resolve, Math.min(left, piece)));
  }
}
