/**
 * JSON with every digit kept. `JSON.parse` turns an integer beyond 2^53 into the nearest double (a different
 * number: ids collide, counts drift), and Node 20 offers neither the reviver's source text nor `JSON.rawJSON`.
 * So the response reader (readJson in shared/qualys/shapes.ts) scans a body once for an integer literal of 16 or
 * more digits where a number can stand (after `:`, `,` or `[`; 2^53 has 16 digits); only a body that has one (or
 * that repeats an envelope name) is read by the lossless reader below, which gives such integers as `bigint` and
 * everything else exactly as `JSON.parse` would. `stringifyJson` writes them back with every digit.
 *
 * Records from either path are plain JSON values; a `bigint` appears only where the integer is not a safe one.
 */

/** Deeper nesting than this is refused (the lossless reader recurses; JSON.parse itself stops near here too). */
const MAX_DEPTH = 2000;

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
// A quote, a backslash, or a control character (which JSON strings may not hold unescaped).
// eslint-disable-next-line no-control-regex
const STRING_END = /["\\\u0000-\u001f]/g;

export interface LosslessOptions {
  /**
   * Dotted paths of the objects where a repeated member name is refused ('' = the top-level object, 'data' = its
   * `data` member): there "the last one wins" (JSON.parse) would let a second member silently replace the first.
   */
  unique?: ReadonlySet<string>;
}

/** A JSON reader that gives integers beyond 2^53 as bigint (and refuses what JSON.parse refuses). */
export function parseLossless(text: string, opts: LosslessOptions = {}): unknown {
  const unique = opts.unique;
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(
      i >= text.length ? `Unexpected end of JSON input (${what})` : `${what} at position ${i} in JSON`,
    );
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else return;
    }
  };
  const str = (): string => {
    const start = i; // at the opening quote
    i++;
    let escaped = false;
    for (;;) {
      STRING_END.lastIndex = i;
      const m = STRING_END.exec(text);
      if (!m) {
        i = text.length;
        fail('Unterminated string');
      }
      i = m!.index;
      const c = text.charCodeAt(i);
      if (c === 34) break;
      if (c === 92) {
        escaped = true;
        i += 2;
        continue;
      }
      fail('Bad control character in string literal');
    }
    i++;
    // Escapes are decoded (and checked) by JSON.parse itself: exactly its semantics.
    return escaped ? (JSON.parse(text.slice(start, i)) as string) : text.slice(start + 1, i - 1);
  };
  /** `path`: the dotted path of the value while it is in the objects `unique` names (undefined below them). */
  const value = (depth: number, path?: string): unknown => {
    if (depth > MAX_DEPTH) fail('Nesting too deep');
    ws();
    const c = text.charCodeAt(i);
    if (c === 123) {
      i++;
      const out: Record<string, unknown> = {};
      ws();
      if (text.charCodeAt(i) === 125) {
        i++;
        return out;
      }
      for (;;) {
        ws();
        if (text.charCodeAt(i) !== 34) fail('Expected a property name');
        const at = i;
        const key = str();
        ws();
        if (text.charCodeAt(i) !== 58) fail("Expected ':'");
        i++;
        const checked = path !== undefined && unique!.has(path);
        if (checked && Object.hasOwn(out, key)) {
          i = at;
          fail(`Repeated member "${key.slice(0, 40)}"${path ? ` in "${path}"` : ''}`);
        }
        const v = value(depth + 1, checked ? (path ? `${path}.${key}` : key) : undefined);
        // As JSON.parse: an own data property, even for "__proto__"; the last of a repeated name wins.
        if (key === '__proto__')
          Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
        else out[key] = v;
        ws();
        const d = text.charCodeAt(i++);
        if (d === 125) return out;
        if (d !== 44) {
          i--;
          fail("Expected ',' or '}'");
        }
      }
    }
    if (c === 91) {
      i++;
      const out: unknown[] = [];
      ws();
      if (text.charCodeAt(i) === 93) {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(depth + 1));
        ws();
        const d = text.charCodeAt(i++);
        if (d === 93) return out;
        if (d !== 44) {
          i--;
          fail("Expected ',' or ']'");
        }
      }
    }
    if (c === 34) return str();
    if (text.startsWith('true', i)) return ((i += 4), true);
    if (text.startsWith('false', i)) return ((i += 5), false);
    if (text.startsWith('null', i)) return ((i += 4), null);
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) return fail('Unexpected token');
    i += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    return Number(m[0]);
  };
  const out = value(0, unique ? '' : undefined);
  ws();
  if (i < text.length) fail('Unexpected non-whitespace character after JSON');
  return out;
}

const NONCE = Math.random().toString(36).slice(2);
const BIGINT_MARK = `\u0000bigint:${NONCE}:`;
/** The mark as JSON.stringify writes it (the NUL escaped), around the digits. */
const BIGINT_MARKED = new RegExp(`"\\\\u0000bigint:${NONCE}:(-?\\d+)"`, 'g');

/**
 * JSON.stringify that writes a bigint as the integer it is, every digit (JSON.stringify throws on one). The fast
 * path is JSON.stringify itself; only a value holding a bigint takes the marked path (a replacer turns each bigint
 * into a string no record can hold, then the marks become bare digits).
 */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (err) {
    if (!(err instanceof TypeError) || !/BigInt/i.test(err.message)) throw err;
  }
  return JSON.stringify(value, (_k, v: unknown) =>
    typeof v === 'bigint' ? `${BIGINT_MARK}${v.toString()}` : v,
  ).replace(BIGINT_MARKED, '$1');
}
