/**
 * What a response must look like, as data: one declared envelope per endpoint, beside the response table
 * (./responses.ts) that says how to react to a status. A body that does not match its endpoint's shape is
 * unreadable (the client retries it, then fails loudly naming the endpoint and what differed): a missing list is
 * never read as an empty one, a repeated singleton never as "nothing", a wrong type never coerced.
 *
 * One vocabulary serves JSON and the XML our reader produces (shared/modules/xml.ts: an element with only text is
 * a string, one with children an object, a repeated element an array, children of `*_LIST` elements always
 * arrays). So in XML a singleton declared with `one(...)`/`obj(...)` that came twice is an array and is refused.
 *
 * Objects are open: records keep every field the API sends (unknown fields are schema drift, counted elsewhere);
 * a shape names only what the exporter relies on.
 */
import { ParseError } from '../errors';
import { parseLossless } from '../lossless-json';

export type Shape =
  | { t: 'string'; pattern?: RegExp; nonEmpty?: boolean; about?: string }
  /** A safe integer (number), or a bigint for integers beyond 2^53 read losslessly (unless `max` refuses it). */
  | { t: 'integer'; min?: number; max?: number }
  | { t: 'number' }
  | { t: 'boolean' }
  /** A record identity: a non-empty string, or an integer (number or bigint). */
  | { t: 'id' }
  /** XML: an element that is present but empty (`<X/>` or `<X></X>`), which the reader gives as ''. */
  | { t: 'empty' }
  | { t: 'object'; fields: Readonly<Record<string, Field>> }
  | { t: 'list'; of: Shape; min?: number }
  | { t: 'oneOf'; options: readonly Shape[]; about: string }
  | { t: 'any' };

export interface Field {
  shape: Shape;
  optional?: boolean;
}

/** A relation between fields that a shape cannot say (e.g. "a list is required when the total is not 0"). */
export type Refinement = (value: unknown) => string | undefined;

export interface EndpointShape {
  /** Names the endpoint in messages, e.g. 'PCI scan list'. */
  what: string;
  body: Shape;
  refine?: readonly Refinement[];
}

// ------------------------------------------------------------------------------------------ vocabulary

export const str = (o: { pattern?: RegExp; nonEmpty?: boolean; about?: string } = {}): Shape => ({
  t: 'string',
  ...o,
});
export const int = (o: { min?: number; max?: number } = {}): Shape => ({ t: 'integer', ...o });
/** A count or position the exporter computes with: 0 … 2^53 - 1 (a bigint is refused, not carried). */
export const count = (): Shape => int({ min: 0, max: Number.MAX_SAFE_INTEGER });
export const num = (): Shape => ({ t: 'number' });
export const bool = (): Shape => ({ t: 'boolean' });
export const id = (): Shape => ({ t: 'id' });
export const empty = (): Shape => ({ t: 'empty' });
export const any = (): Shape => ({ t: 'any' });
export const list = (of: Shape, o: { min?: number } = {}): Shape => ({ t: 'list', of, ...o });
export const oneOf = (about: string, ...options: Shape[]): Shape => ({ t: 'oneOf', options, about });
/** An optional field: absent (or, in JSON, null) is fine; present, it must match. */
export const opt = (shape: Shape): Field => ({ shape, optional: true });

/** An object with these fields (a Shape value is a required field; `opt(...)` an optional one). */
export function obj(fields: Record<string, Shape | Field>): Shape {
  const out: Record<string, Field> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = 'shape' in v ? v : { shape: v };
  return { t: 'object', fields: out };
}

// ------------------------------------------------------------------------------------------ checking

/** Differences reported per body (the first ones; a body that is wrong everywhere is wrong enough). */
const MAX_DIFFERENCES = 5;

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `a list of ${v.length}`;
  if (typeof v === 'string') return v === '' ? 'an empty string' : 'a string';
  if (typeof v === 'number')
    return Number.isInteger(v) ? (Number.isSafeInteger(v) ? 'an integer' : 'an unsafe integer') : 'a number';
  if (typeof v === 'bigint') return 'a big integer';
  if (typeof v === 'object') return 'an object';
  return `a ${typeof v}`;
}

function expected(s: Shape): string {
  switch (s.t) {
    case 'string':
      return s.about ?? (s.nonEmpty ? 'a non-empty string' : 'a string');
    case 'integer':
      return s.max !== undefined
        ? `an integer from ${s.min ?? '-∞'} to ${s.max}`
        : s.min !== undefined
          ? `an integer ≥ ${s.min}`
          : 'an integer';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    case 'id':
      return 'an id (a non-empty string or an integer)';
    case 'empty':
      return 'an empty element';
    case 'object':
      return 'an object';
    case 'list':
      return s.min ? `a list of at least ${s.min}` : 'a list';
    case 'oneOf':
      return s.about;
    case 'any':
      return 'anything';
  }
}

const isInteger = (v: unknown): v is number | bigint =>
  typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v));

function walk(s: Shape, v: unknown, path: string, out: string[]): void {
  if (out.length >= MAX_DIFFERENCES) return;
  const differ = (what = expected(s)): void => {
    out.push(`${path || '(body)'}: expected ${what}, got ${kindOf(v)}`);
  };
  switch (s.t) {
    case 'any':
      return;
    case 'string':
      if (typeof v !== 'string') return differ();
      if (s.nonEmpty && v.trim() === '') return differ();
      if (s.pattern && !s.pattern.test(v)) return differ();
      return;
    case 'integer':
      if (!isInteger(v)) return differ();
      if (s.min !== undefined && (typeof v === 'bigint' ? v < BigInt(s.min) : v < s.min)) return differ();
      if (s.max !== undefined && (typeof v === 'bigint' ? v > BigInt(s.max) : v > s.max)) return differ();
      return;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) return differ();
      return;
    case 'boolean':
      if (typeof v !== 'boolean') return differ();
      return;
    case 'id':
      if (!(isInteger(v) || (typeof v === 'string' && v.trim() !== ''))) return differ();
      return;
    case 'empty':
      if (v !== '') return differ();
      return;
    case 'object': {
      if (!v || typeof v !== 'object' || Array.isArray(v)) {
        return differ(Array.isArray(v) ? 'one element (it came more than once)' : 'an object');
      }
      const o = v as Record<string, unknown>;
      for (const [k, f] of Object.entries(s.fields)) {
        const child = Object.hasOwn(o, k) ? o[k] : undefined;
        const at = path ? `${path}.${k}` : k;
        if (child === undefined || child === null) {
          if (!f.optional) out.push(`${at}: missing (expected ${expected(f.shape)})`);
          continue;
        }
        if (Array.isArray(child) && f.shape.t !== 'list' && !listIn(f.shape)) {
          out.push(`${at}: came ${child.length} times, expected once`);
          continue;
        }
        walk(f.shape, child, at, out);
        if (out.length >= MAX_DIFFERENCES) return;
      }
      return;
    }
    case 'list': {
      if (!Array.isArray(v)) return differ();
      if (s.min !== undefined && v.length < s.min) return differ();
      for (let i = 0; i < v.length && out.length < MAX_DIFFERENCES; i++)
        walk(s.of, v[i], `${path}[${i}]`, out);
      return;
    }
    case 'oneOf': {
      const near: string[][] = [];
      for (const option of s.options) {
        const trial: string[] = [];
        walk(option, v, path, trial);
        if (trial.length === 0) return;
        if (sameKind(option, v)) near.push(trial);
      }
      // One option of the value's own kind (an object among an object and a list): its differences say more.
      if (near.length === 1) {
        for (const d of near[0]!.slice(0, MAX_DIFFERENCES - out.length)) out.push(d);
        return;
      }
      return differ();
    }
  }
}

/** Whether `v` is of the kind `s` describes at its top (an object for an object shape, …). */
function sameKind(s: Shape, v: unknown): boolean {
  switch (s.t) {
    case 'object':
      return !!v && typeof v === 'object' && !Array.isArray(v);
    case 'list':
      return Array.isArray(v);
    case 'string':
    case 'empty':
      return typeof v === 'string';
    case 'integer':
    case 'number':
      return typeof v === 'number' || typeof v === 'bigint';
    default:
      return false;
  }
}

/** Whether a shape accepts a list at its top (a oneOf with a list option). */
function listIn(s: Shape): boolean {
  return s.t === 'list' || (s.t === 'oneOf' && s.options.some(listIn));
}

// ------------------------------------------------------------------------------------------ compiled check

type Check = (v: unknown) => boolean;
const compiled = new WeakMap<Shape, Check>();
const NON_BLANK = /\S/;

/**
 * `shape` as one predicate, built once: the same rules as `walk`, without paths or messages, so a page of records
 * costs a few property reads per record. It never accepts what `walk` refuses (`checkShape` walks what it refuses,
 * so a stricter answer here would only cost time).
 */
export function matches(shape: Shape): Check {
  let check = compiled.get(shape);
  if (!check) {
    check = compile(shape);
    compiled.set(shape, check);
  }
  return check;
}

function compile(s: Shape): Check {
  switch (s.t) {
    case 'any':
      return () => true;
    case 'string': {
      const { nonEmpty, pattern } = s;
      return (v) =>
        typeof v === 'string' && (!nonEmpty || NON_BLANK.test(v)) && (!pattern || pattern.test(v));
    }
    case 'integer': {
      const { min, max } = s;
      return (v) =>
        isInteger(v) &&
        (min === undefined || (typeof v === 'bigint' ? v >= BigInt(min) : v >= min)) &&
        (max === undefined || (typeof v === 'bigint' ? v <= BigInt(max) : v <= max));
    }
    case 'number':
      return (v) => typeof v === 'number' && Number.isFinite(v);
    case 'boolean':
      return (v) => typeof v === 'boolean';
    case 'id':
      return (v) => isInteger(v) || (typeof v === 'string' && NON_BLANK.test(v));
    case 'empty':
      return (v) => v === '';
    case 'object': {
      const fields = Object.entries(s.fields).map(([k, f]) => ({
        k,
        optional: f.optional === true,
        // A repeated singleton (an XML element that came twice) arrives as a list.
        listOk: f.shape.t === 'list' || listIn(f.shape),
        check: matches(f.shape),
      }));
      return (v) => {
        if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
        const o = v as Record<string, unknown>;
        for (const f of fields) {
          const child = Object.hasOwn(o, f.k) ? o[f.k] : undefined;
          if (child === undefined || child === null) {
            if (!f.optional) return false;
            continue;
          }
          if (!f.listOk && Array.isArray(child)) return false;
          if (!f.check(child)) return false;
        }
        return true;
      };
    }
    case 'list': {
      const item = matches(s.of);
      const min = s.min ?? 0;
      return (v) => {
        if (!Array.isArray(v) || v.length < min) return false;
        for (let i = 0; i < v.length; i++) if (!item(v[i])) return false;
        return true;
      };
    }
    case 'oneOf': {
      const options = s.options.map(matches);
      return (v) => options.some((o) => o(v));
    }
  }
}

/** The differences between `value` and `shape` (empty when it matches), each naming its path. */
export function differences(shape: Shape, value: unknown): string[] {
  const out: string[] = [];
  walk(shape, value, '', out);
  return out;
}

/**
 * How a body of an endpoint is read: its envelope objects (the objects its shape declares outside lists: records
 * sit in lists), where a member name may come only once, and one scan that looks for them and for integers that
 * may be beyond 2^53.
 */
interface ReadPlan {
  unique: ReadonlySet<string>;
  scan: RegExp;
}
const plans = new WeakMap<EndpointShape, ReadPlan>();

function planOf(endpoint: EndpointShape): ReadPlan {
  let plan = plans.get(endpoint);
  if (plan) return plan;
  const unique = new Set<string>();
  const names = new Set<string>();
  const visit = (shape: Shape, path: string): void => {
    if (shape.t === 'oneOf') for (const o of shape.options) visit(o, path);
    if (shape.t !== 'object') return;
    unique.add(path);
    for (const [k, f] of Object.entries(shape.fields)) {
      names.add(k);
      visit(f.shape, path ? `${path}.${k}` : k);
    }
  };
  visit(endpoint.body, '');
  const keys = [...names].map((k) => k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // Group 1: an envelope name before ':' (counted); no group: a 16+ digit integer where a number can stand.
  const scan = new RegExp(`[:,[]\\s*-?\\d{16}${keys.length ? `|"(${keys.join('|')})"\\s*:` : ''}`, 'g');
  plan = { unique, scan };
  plans.set(endpoint, plan);
  return plan;
}

/**
 * Parses a JSON body: JSON.parse, unless one scan of the text finds an integer that may be beyond 2^53 or an
 * envelope name more than once; then the lossless reader, which keeps every digit (bigint) and refuses a member
 * name repeated in an envelope object (where "the last one wins" would let a second `data` replace the first).
 * Names written with escapes (`"d\u0061ta"`) are not counted by the scan.
 */
function parseBody(text: string, endpoint: EndpointShape): unknown {
  const plan = planOf(endpoint);
  const seen = new Set<string>();
  let slow = false;
  plan.scan.lastIndex = 0;
  for (let m = plan.scan.exec(text); m; m = plan.scan.exec(text)) {
    const name = m[1];
    if (name === undefined || seen.has(name)) {
      slow = true;
      break;
    }
    seen.add(name);
  }
  return slow ? parseLossless(text, { unique: plan.unique }) : JSON.parse(text);
}

/**
 * A JSON body read with every digit kept and its envelope's names once (see parseBody), checked against its
 * endpoint's declared shape: the one way every JSON parser of the exporter reads a response. Malformed JSON or a
 * different shape is a ParseError naming the endpoint (the client retries it as unreadable, then fails loudly).
 */
export function readJson<T = unknown>(text: string, endpoint: EndpointShape): T {
  let value: unknown;
  try {
    value = parseBody(text, endpoint);
  } catch (err) {
    throw new ParseError(`${endpoint.what} is not valid JSON: ${(err as Error).message}`);
  }
  return checkShape<T>(endpoint, value);
}

/**
 * Checks a parsed body against its endpoint's declared shape; a mismatch is a ParseError (the client retries an
 * unreadable body, then fails naming the endpoint and what differed).
 */
export function checkShape<T = unknown>(endpoint: EndpointShape, value: unknown): T {
  // The compiled check answers for the common, matching body; only a body it refuses is walked for its differences.
  const diffs = matches(endpoint.body)(value) ? [] : differences(endpoint.body, value);
  if (diffs.length === 0) {
    for (const refine of endpoint.refine ?? []) {
      const d = refine(value);
      if (d) diffs.push(d);
    }
  }
  if (diffs.length) {
    throw new ParseError(`${endpoint.what} does not have the declared shape: ${diffs.join('; ')}`);
  }
  return value as T;
}
