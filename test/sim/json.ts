/**
 * How the simulator writes JSON: JSON.stringify, except that a bigint is written as the integer it is (the
 * simulator's own writer, independent of the exporter's, so a test compares two implementations).
 */
import type { SimModule } from './counts';

export function toJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError)) throw err;
  }
  return write(value);
}

function write(v: unknown): string {
  if (typeof v === 'bigint') return v.toString();
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : write(x))).join(',')}]`;
  const parts: string[] = [];
  for (const [k, x] of Object.entries(v)) if (x !== undefined) parts.push(`${JSON.stringify(k)}:${write(x)}`);
  return `{${parts.join(',')}}`;
}

/** 2^60: what the bigNumbers dialect adds to PCI and CertView ids (far beyond 2^53). */
export const BIG_OFFSET = 2n ** 60n;

/**
 * A record as the bigNumbers dialect serves it: PCI scanId and CertView id 2^60 higher (as bigint), every EDR event
 * an `eventSequence` just under 2^63 (and its negation in `eventSequenceNegative`). Unchanged when `on` is false.
 */
export function bigify(
  module: SimModule,
  record: Record<string, unknown>,
  i: number,
  on: boolean | undefined,
): Record<string, unknown> {
  if (!on) return record;
  switch (module) {
    case 'pci-scans':
      return { ...record, scanId: BIG_OFFSET + BigInt(record.scanId as number) };
    case 'certview-certificates':
      return { ...record, id: BIG_OFFSET + BigInt(record.id as number) };
    case 'edr-events': {
      const seq = 2n ** 63n - 1n - BigInt(i) * 7n;
      return { ...record, eventSequence: seq, eventSequenceNegative: -seq };
    }
    default:
      return record;
  }
}
