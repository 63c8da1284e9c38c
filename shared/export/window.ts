import { ConfigError } from '../errors';
import type { TimeWindow } from '../modules/types';

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
