/**
 * Declared shapes of JSON the exporter reads back (the state file: checkpoint, lease, committed state, journal),
 * as data: each module declares the shape of its cursor and committed state (`ModuleDef.state`), and one checker
 * (shared/export/state-shape.ts) applies them where the file enters. A value that does not fit is refused with the
 * path of the field and what is wrong with it, never guessed around.
 *
 * Objects list their known fields; unknown fields are allowed (a newer version may add some) unless `closed`.
 */
export type Shape =
  | { t: 'string'; pattern?: RegExp; what?: string; max?: number }
  | { t: 'time' }
  | { t: 'int'; min?: number; max?: number }
  | { t: 'number' }
  | { t: 'boolean' }
  | { t: 'literal'; values: readonly (string | number | boolean | null)[] }
  | { t: 'array'; of: Shape; max?: number }
  | { t: 'object'; fields: Record<string, Field>; closed?: boolean }
  | { t: 'record'; of: Shape }
  | { t: 'any' }
  | { t: 'oneOf'; shapes: readonly Shape[]; what: string };

export interface Field {
  shape: Shape;
  optional?: boolean;
}

export const S = {
  string: (o: { pattern?: RegExp; what?: string; max?: number } = {}): Shape => ({ t: 'string', ...o }),
  /** An ISO 8601 instant as the exporter writes them (`2026-01-02T03:04:05.678Z`, or with an offset). */
  time: { t: 'time' } as Shape,
  int: (o: { min?: number; max?: number } = {}): Shape => ({ t: 'int', ...o }),
  count: { t: 'int', min: 0 } as Shape,
  number: { t: 'number' } as Shape,
  boolean: { t: 'boolean' } as Shape,
  literal: (...values: (string | number | boolean | null)[]): Shape => ({ t: 'literal', values }),
  array: (of: Shape, max?: number): Shape => ({ t: 'array', of, max }),
  object: (fields: Record<string, Shape | Field>, o: { closed?: boolean } = {}): Shape => ({
    t: 'object',
    fields: Object.fromEntries(
      Object.entries(fields).map(([k, v]) => [k, 'shape' in v ? v : { shape: v }]),
    ) as Record<string, Field>,
    closed: o.closed,
  }),
  record: (of: Shape): Shape => ({ t: 'record', of }),
  any: { t: 'any' } as Shape,
  oneOf: (what: string, ...shapes: Shape[]): Shape => ({ t: 'oneOf', shapes, what }),
  optional: (shape: Shape): Field => ({ shape, optional: true }),
};

const ISO = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)$/;

/** An ISO 8601 instant whose fields exist (Date.parse rolls 2026-02-30 over to March). */
function isTime(value: unknown): boolean {
  const m = typeof value === 'string' ? ISO.exec(value) : null;
  if (!m) return false;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const days = new Date(Date.UTC(y!, mo!, 0)).getUTCDate();
  return mo! >= 1 && mo! <= 12 && d! >= 1 && d! <= days && h! < 24 && mi! < 60 && s! < 60;
}

const show = (v: unknown): string => {
  const text = JSON.stringify(v);
  if (text === undefined) return String(v);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
};

/** What is wrong with `value` against `shape`: `[path, problem]`, or undefined when it fits. */
export function misfit(value: unknown, shape: Shape, path: string): [string, string] | undefined {
  const fail = (problem: string): [string, string] => [path, problem];
  switch (shape.t) {
    case 'any':
      return undefined;
    case 'string':
      if (typeof value !== 'string') return fail(`${show(value)} is not a string`);
      if (shape.max !== undefined && value.length > shape.max)
        return fail(`a string of ${value.length} characters (at most ${shape.max})`);
      if (shape.pattern && !shape.pattern.test(value))
        return fail(`${show(value)} is not ${shape.what ?? `of the form ${shape.pattern.source}`}`);
      return undefined;
    case 'time':
      if (!isTime(value) || Number.isNaN(Date.parse(value as string)))
        return fail(`${show(value)} is not a time (ISO 8601, e.g. 2026-01-02T03:04:05.000Z)`);
      return undefined;
    case 'int':
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        return fail(`${show(value)} is not a whole number`);
      if (shape.min !== undefined && value < shape.min) return fail(`${value} is below ${shape.min}`);
      if (shape.max !== undefined && value > shape.max) return fail(`${value} is above ${shape.max}`);
      return undefined;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value)
        ? undefined
        : fail(`${show(value)} is not a number`);
    case 'boolean':
      return typeof value === 'boolean' ? undefined : fail(`${show(value)} is not true or false`);
    case 'literal':
      return shape.values.includes(value as string)
        ? undefined
        : fail(`${show(value)} is not one of ${shape.values.map(show).join(', ')}`);
    case 'array': {
      if (!Array.isArray(value)) return fail(`${show(value)} is not a list`);
      if (shape.max !== undefined && value.length > shape.max)
        return fail(`a list of ${value.length} items (at most ${shape.max})`);
      for (let i = 0; i < value.length; i++) {
        const m = misfit(value[i], shape.of, `${path}[${i}]`);
        if (m) return m;
      }
      return undefined;
    }
    case 'record':
    case 'object': {
      if (!value || typeof value !== 'object' || Array.isArray(value))
        return fail(`${show(value)} is not an object`);
      const obj = value as Record<string, unknown>;
      const at = (k: string) => (path ? `${path}.${k}` : k);
      if (shape.t === 'record') {
        for (const [k, v] of Object.entries(obj)) {
          const m = misfit(v, shape.of, at(k));
          if (m) return m;
        }
        return undefined;
      }
      for (const [k, f] of Object.entries(shape.fields)) {
        if (!(k in obj) || obj[k] === undefined) {
          if (!f.optional) return [at(k), 'is missing'];
          continue;
        }
        const m = misfit(obj[k], f.shape, at(k));
        if (m) return m;
      }
      if (shape.closed) {
        const extra = Object.keys(obj).find((k) => !(k in shape.fields));
        if (extra !== undefined) return [at(extra), 'is not a field this file has'];
      }
      return undefined;
    }
    case 'oneOf':
      return shape.shapes.some((s) => misfit(value, s, path) === undefined)
        ? undefined
        : fail(`${show(value)} is not ${shape.what}`);
  }
}
