/**
 * Seeded mutations of valid responses, generic over an endpoint's format and its declaration (test/fuzz/endpoints.ts):
 * transport (redirects, content coding and bombs, charsets, types, sizes, odd headers, truncation, empty and HTML
 * bodies), structure (every declared envelope member or element dropped, repeated, of the wrong type, lied about;
 * the record list cut, emptied, reordered, a record repeated or without its identity), and record content (integers
 * beyond 2^53, huge values, awkward Unicode, the exporter's own field name). Each says what it promises when applied
 * to one reply of its endpoint (`once`) and to every one (`always`):
 * - `exact`: the run ends `done` with exactly the simulator's records (transformed, for content mutations);
 * - `fail`: the run does not end `done`, and nothing is published;
 * - `safe`: either of the two; never `done` with a difference.
 */
import type { SimDialect, WireReply } from '../sim';
import { toJson } from '../sim/json';
import type { Format, FuzzEndpoint } from './endpoints';
import { addHeader, bodyBytes, bodyText, compressed, gzipBomb, header, withBody, withHeader } from './wire';

export type Expect = 'exact' | 'fail' | 'safe';

export interface MutationContext {
  rng: () => number;
  endpoint: FuzzEndpoint;
  /** An origin nothing may be sent to (a recording server). */
  elsewhere: string;
  /** The bounds the fuzz runs are configured with. */
  maxResponseBytes: number;
  maxDecodedBytes: number;
}

/** What a content mutation does to the records the run should end with. */
export interface ContentChange {
  /** The simulator dialect that serves it (integers beyond 2^53). */
  dialect?: SimDialect;
  /** The expected record for one the simulator holds (identity when unchanged). */
  record?: (r: Record<string, unknown>) => Record<string, unknown>;
}

export interface Mutation {
  kind: string;
  once: Expect;
  always: Expect;
  content?: ContentChange;
  /** The reply rewritten, or undefined when this reply has nothing to mutate (the next one is tried). */
  apply(reply: WireReply, ctx: MutationContext): WireReply | undefined;
}

const pick = <T>(list: readonly T[], rng: () => number): T => list[Math.floor(rng() * list.length)]!;

// ------------------------------------------------------------------------------------------ transport

const TYPE_OF: Record<Format, string> = {
  json: 'application/json',
  xml: 'application/xml',
  text: 'text/plain',
};

function transport(format: Format): Mutation[] {
  const typed = (r: WireReply) => header(r, 'content-type') ?? TYPE_OF[format];
  return [
    {
      kind: 'redirect',
      once: 'fail',
      always: 'fail',
      apply: (r, c) =>
        withHeader(
          withBody({ ...r, status: pick([301, 302, 303, 307, 308], c.rng) }, 'moved'),
          'location',
          `${c.elsewhere}/moved?token=planted`,
        ),
    },
    {
      kind: 'html-200',
      once: 'exact',
      always: 'fail',
      apply: (r) =>
        withHeader(
          withBody(r, '<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>'),
          'content-type',
          'text/html; charset=UTF-8',
        ),
    },
    { kind: 'empty-body', once: 'exact', always: 'fail', apply: (r) => withBody(r, '') },
    {
      kind: 'truncate',
      once: 'exact',
      always: 'fail',
      apply: (r, c) => {
        const b = bodyBytes(r);
        return b.length < 2
          ? undefined
          : withBody(r, b.subarray(0, 1 + Math.floor(c.rng() * (b.length - 1))));
      },
    },
    {
      kind: 'wrong-type',
      once: 'exact',
      always: 'fail',
      apply: (r) => withHeader(r, 'content-type', format === 'text' ? 'text/html' : 'text/plain'),
    },
    {
      kind: 'charset-latin1',
      once: 'exact',
      always: 'fail',
      apply: (r) =>
        withHeader(
          withBody(r, Buffer.from(bodyText(r), 'latin1')),
          'content-type',
          `${typed(r)}; charset=ISO-8859-1`,
        ),
    },
    {
      kind: 'utf16',
      once: 'exact',
      always: 'fail',
      apply: (r) =>
        withHeader(
          withBody(r, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(bodyText(r), 'utf16le')])),
          'content-type',
          `${typed(r)}; charset=UTF-16`,
        ),
    },
    {
      kind: 'not-utf8',
      once: 'exact',
      always: 'fail',
      apply: (r, c) => {
        const b = bodyBytes(r);
        const at = Math.floor(c.rng() * (b.length + 1));
        return withBody(r, Buffer.concat([b.subarray(0, at), Buffer.from([0xff]), b.subarray(at)]));
      },
    },
    ...(['gzip', 'deflate', 'br'] as const).map((coding): Mutation => ({
      kind: coding,
      once: 'exact',
      always: 'exact',
      apply: (r) => compressed(r, coding),
    })),
    {
      kind: 'bad-coding',
      once: 'exact',
      always: 'fail',
      apply: (r) => withHeader(r, 'content-encoding', 'gzip'),
    },
    {
      kind: 'gzip-bomb',
      once: 'fail',
      always: 'fail',
      apply: (r, c) => withHeader(withBody(r, gzipBomb(c.maxDecodedBytes * 8)), 'content-encoding', 'gzip'),
    },
    {
      kind: 'oversize',
      once: 'fail',
      always: 'fail',
      apply: (r, c) => withBody(r, `${bodyText(r)}${' '.repeat(c.maxResponseBytes)}`),
    },
    {
      kind: 'two-content-types',
      once: 'exact',
      always: 'fail',
      apply: (r) => addHeader(r, 'content-type', 'text/html'),
    },
    {
      kind: 'odd-headers',
      once: 'exact',
      always: 'exact',
      apply: (r) => {
        let x = addHeader(r, 'x-ratelimit-remaining', '-5');
        x = addHeader(x, 'x-ratelimit-limit', 'plenty');
        x = addHeader(x, 'x-ratelimit-limit', '');
        x = addHeader(x, 'x-concurrency-limit-limit', '0');
        x = addHeader(x, 'retry-after', 'soon');
        x = addHeader(x, 'x-ratelimit-window-sec', '-1');
        x = addHeader(x, 'x-junk', 'j'.repeat(8000));
        x = addHeader(x, 'scrollid', '');
        return x;
      },
    },
  ];
}

// ------------------------------------------------------------------------------------------ JSON structure

type Json = unknown;

const getAt = (body: Json, path: string[]): Json =>
  path.reduce<Json>(
    (v, k) => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Json>)[k] : undefined),
    body,
  );

/** The parent object of `path` in `body` (a structured clone is mutated). */
function parentOf(body: Json, path: string[]): Record<string, Json> | undefined {
  const parent = getAt(body, path.slice(0, -1));
  return parent && typeof parent === 'object' && !Array.isArray(parent)
    ? (parent as Record<string, Json>)
    : undefined;
}

/** JSON text of `body` with `path`'s member written twice, the second time with `value` (what JSON.parse would keep). */
function withRepeatedMember(body: Json, path: string[], value: Json): string {
  const write = (v: Json, at: string[]): string => {
    if (!v || typeof v !== 'object' || Array.isArray(v)) return toJson(v);
    const parts: string[] = [];
    for (const [k, x] of Object.entries(v)) {
      parts.push(`${JSON.stringify(k)}:${write(x, [...at, k])}`);
      if (at.length === path.length - 1 && at.every((p, i) => p === path[i]) && k === path.at(-1))
        parts.push(`${JSON.stringify(k)}:${toJson(value)}`);
    }
    return `{${parts.join(',')}}`;
  };
  return write(body, []);
}

/** A value of another kind than `v`. */
function otherKind(v: Json, rng: () => number): Json {
  if (Array.isArray(v)) return pick([{}, 'list', 0], rng);
  if (v && typeof v === 'object') return pick([[], 'object', 1], rng);
  if (typeof v === 'string') return pick([7, [], { text: v }], rng);
  if (typeof v === 'number') return pick([String(v), [v], { n: v }, 1.5], rng);
  return pick(['x', 0, []], rng);
}

/** What a repeated member says instead: the same structure, emptied (lists empty, counts zero, strings ''). */
function emptied(v: Json): Json {
  if (Array.isArray(v)) return [];
  if (v && typeof v === 'object')
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, emptied(x)]));
  if (typeof v === 'number') return 0;
  return '';
}

function jsonBody(r: WireReply): Json | undefined {
  try {
    return JSON.parse(bodyText(r)) as Json;
  } catch {
    return undefined;
  }
}

/** A mutation of a JSON body's value; undefined when it does not apply to this body. */
function onJson(f: (body: Json, c: MutationContext) => Json | string | undefined) {
  return (r: WireReply, c: MutationContext): WireReply | undefined => {
    const body = jsonBody(r);
    if (body === undefined) return undefined;
    const out = f(structuredClone(body), c);
    return out === undefined ? undefined : withBody(r, typeof out === 'string' ? out : toJson(out));
  };
}

function jsonStructure(e: FuzzEndpoint): Mutation[] {
  const out: Mutation[] = [];
  for (const path of e.envelope) {
    const name = path.join('.');
    out.push(
      {
        kind: `drop:${name}`,
        once: 'exact',
        always: 'safe',
        apply: onJson((b) => {
          const p = parentOf(b, path);
          if (!p || !(path.at(-1)! in p)) return undefined;
          delete p[path.at(-1)!];
          return b;
        }),
      },
      {
        kind: `repeat:${name}`,
        once: 'exact',
        always: 'fail',
        apply: onJson((b) => {
          const v = getAt(b, path);
          return v === undefined ? undefined : withRepeatedMember(b, path, emptied(v));
        }),
      },
      {
        kind: `type:${name}`,
        once: 'exact',
        always: 'safe',
        apply: onJson((b, c) => {
          const p = parentOf(b, path);
          if (!p || !(path.at(-1)! in p)) return undefined;
          p[path.at(-1)!] = otherKind(p[path.at(-1)!], c.rng);
          return b;
        }),
      },
    );
    out.push({
      kind: `lie:${name}`,
      once: 'safe',
      always: 'safe',
      apply: onJson((b, c) => {
        const p = parentOf(b, path);
        const v = p?.[path.at(-1)!];
        if (typeof v !== 'number') return undefined;
        // A count that says more, less, nothing, or beyond 2^53 (as a JSON number: every digit on the wire).
        const lie = pick(['more', 'less', 'zero', 'huge'], c.rng);
        if (lie === 'huge')
          return toJson(b).replace(`"${path.at(-1)}":${v}`, `"${path.at(-1)}":1152921504606846976`);
        p![path.at(-1)!] = lie === 'more' ? v + 1 : lie === 'less' ? Math.max(0, v - 1) : 0;
        return b;
      }),
    });
  }
  const top = [] as Mutation[];
  top.push({
    kind: 'extra-member',
    once: 'exact',
    always: 'exact',
    apply: onJson((b) => {
      if (!b || typeof b !== 'object' || Array.isArray(b)) return undefined;
      (b as Record<string, Json>).qexportFuzzExtra = { note: 'a member no declaration names', n: [1, 2, 3] };
      return b;
    }),
  });
  return [...out, ...top];
}

/** Mutations of the record list of a JSON body (PCI scanInfoList, CertView's array, EDR data). */
function jsonRecords(e: FuzzEndpoint): Mutation[] {
  const list = (b: Json) => e.records!(b);
  const onList = (f: (l: Record<string, unknown>[], c: MutationContext) => boolean) =>
    onJson((b, c) => {
      const l = list(b);
      return l && l.length > 0 && f(l, c) ? b : undefined;
    });
  const id = e.id!;
  return [
    {
      kind: 'list-drop',
      once: e.blind?.['list-drop'] ? 'safe' : 'exact',
      always: 'safe',
      apply: onList((l, c) => l.splice(Math.floor(c.rng() * l.length), 1).length === 1),
    },
    {
      kind: 'list-repeat',
      once: 'safe',
      always: 'safe',
      apply: onList((l, c) => {
        const k = Math.floor(c.rng() * l.length);
        l.splice(k + 1, 0, structuredClone(l[k]!));
        return true;
      }),
    },
    {
      kind: 'list-truncate',
      once: e.blind?.['list-truncate'] ? 'safe' : 'exact',
      always: 'safe',
      apply: onList((l) => l.length > 1 && l.splice(Math.ceil(l.length / 2)).length > 0),
    },
    {
      kind: 'list-empty',
      once: e.blind?.['list-empty'] ? 'safe' : 'exact',
      always: 'safe',
      apply: onList((l) => l.splice(0).length > 0),
    },
    {
      kind: 'list-reverse',
      once: 'safe',
      always: 'safe',
      apply: onList((l) => l.length > 1 && l.reverse().length > 0),
    },
    {
      kind: 'record-without-id',
      once: 'exact',
      always: 'safe',
      apply: onList((l, c) => delete l[Math.floor(c.rng() * l.length)]![id]),
    },
    {
      kind: 'record-bad-id',
      once: 'exact',
      always: 'safe',
      apply: onList((l, c) => {
        l[Math.floor(c.rng() * l.length)]![id] = pick([{}, [], true, '', null], c.rng);
        return true;
      }),
    },
  ];
}

// ------------------------------------------------------------------------------------------ XML structure

/** The first element `name` of an XML text: where it starts and ends (with its content), or undefined. */
function element(text: string, name: string): { start: number; end: number } | undefined {
  const start = text.indexOf(`<${name}>`) >= 0 ? text.indexOf(`<${name}>`) : text.indexOf(`<${name}/>`);
  if (start < 0) return undefined;
  if (text.startsWith(`<${name}/>`, start)) return { start, end: start + name.length + 3 };
  const close = text.indexOf(`</${name}>`, start);
  return close < 0 ? undefined : { start, end: close + name.length + 3 };
}

const onXml =
  (f: (text: string, c: MutationContext) => string | undefined) => (r: WireReply, c: MutationContext) => {
    const out = f(bodyText(r), c);
    return out === undefined ? undefined : withBody(r, out);
  };

function xmlStructure(e: FuzzEndpoint): Mutation[] {
  const out: Mutation[] = [];
  for (const [name] of e.envelope) {
    out.push(
      {
        kind: `xml-repeat:${name}`,
        once: 'exact',
        always: 'fail',
        apply: onXml((t) => {
          const el = element(t, name!);
          return el && `${t.slice(0, el.end)}${t.slice(el.start, el.end)}${t.slice(el.end)}`;
        }),
      },
      {
        kind: `xml-drop:${name}`,
        once: e.blind?.[`xml-drop:${name}`] ? 'safe' : 'safe',
        always: 'safe',
        apply: onXml((t) => {
          const el = element(t, name!);
          return el && `${t.slice(0, el.start)}${t.slice(el.end)}`;
        }),
      },
    );
  }
  const rec = e.recordElement!;
  out.push(
    {
      kind: 'list-drop',
      once: 'safe',
      always: 'safe',
      apply: onXml((t, c) => {
        const all = [...t.matchAll(new RegExp(`<${rec}>[\\s\\S]*?</${rec}>`, 'g'))];
        const m = all.length ? all[Math.floor(c.rng() * all.length)]! : undefined;
        return m && `${t.slice(0, m.index)}${t.slice(m.index! + m[0].length)}`;
      }),
    },
    {
      kind: 'list-repeat',
      once: 'safe',
      always: 'safe',
      apply: onXml((t, c) => {
        const all = [...t.matchAll(new RegExp(`<${rec}>[\\s\\S]*?</${rec}>`, 'g'))];
        const m = all.length ? all[Math.floor(c.rng() * all.length)]! : undefined;
        return m && `${t.slice(0, m.index! + m[0].length)}${m[0]}${t.slice(m.index! + m[0].length)}`;
      }),
    },
    {
      kind: 'record-without-id',
      once: 'exact',
      always: 'safe',
      apply: onXml((t) =>
        t.includes(`<${e.id}>`) ? t.replace(new RegExp(`<${e.id}>[^<]*</${e.id}>`), '') : undefined,
      ),
    },
    {
      kind: 'xml-entity',
      once: 'exact',
      always: 'fail',
      apply: onXml((t) => {
        const root = t.indexOf('<ASSET_LIST_VM_DETECTION_OUTPUT>');
        return root < 0
          ? undefined
          : `${t.slice(0, root)}<!DOCTYPE x [<!ENTITY lol "lol">]>${t.slice(root).replace('<DATETIME>', '<DATETIME>&lol;')}`;
      }),
    },
    {
      kind: 'xml-declared-latin1',
      once: 'exact',
      always: 'fail',
      apply: onXml((t) =>
        t.includes('encoding="UTF-8"') ? t.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"') : undefined,
      ),
    },
  );
  return out;
}

// ------------------------------------------------------------------------------------------ record content

/** The records whose content a content mutation changes: a deterministic tenth of them, by identity. */
const chosen = (id: unknown) => /7$/.test(String(id));
const HUGE = 'h'.repeat(100_000);
const AWKWARD = 'é 中 😀 "quoted" back\\slash \u2028 </ASSET> <![CDATA[ & ]]';
const AWKWARD_JSON = `${AWKWARD} \u0000 \u001f`;

function content(e: FuzzEndpoint): Mutation[] {
  const id = e.id!;
  const jsonField = (field: string, value: unknown): Mutation['apply'] =>
    onJson((b) => {
      const l = e.records!(b);
      if (!l?.some((r) => chosen(r[id]))) return undefined;
      for (const r of l) if (chosen(r[id])) r[field] = value;
      return b;
    });
  const xmlField = (field: string, text: string): Mutation['apply'] =>
    onXml((t) => {
      let hit = false;
      const out = t.replace(new RegExp(`<${id}>([^<]*)</${id}>`, 'g'), (m, v: string) => {
        if (!chosen(v)) return m;
        hit = true;
        return `${m}<${field}><![CDATA[${text.replace(/]]>/g, ']]]]><![CDATA[>')}]]></${field}>`;
      });
      return hit ? out : undefined;
    });
  const json = e.format === 'json';
  // JSON: the member is added last; XML: the element right after the id element (where xmlField puts it).
  const adds = (field: string, value: string): ContentChange => ({
    record: (r) => {
      if (!chosen(r[id])) return r;
      if (json) return { ...r, [field]: value };
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(r)) {
        out[k] = v;
        if (k === id) out[field] = value;
      }
      return out;
    },
  });
  const list: Mutation[] = [
    {
      kind: 'huge-value',
      once: 'exact',
      always: 'exact',
      content: adds(json ? 'fuzzHuge' : 'FUZZ_HUGE', HUGE),
      apply: json ? jsonField('fuzzHuge', HUGE) : xmlField('FUZZ_HUGE', HUGE),
    },
    {
      kind: 'awkward-unicode',
      once: 'exact',
      always: 'exact',
      content: adds(json ? 'fuzzText' : 'FUZZ_TEXT', json ? AWKWARD_JSON : AWKWARD),
      apply: json ? jsonField('fuzzText', AWKWARD_JSON) : xmlField('FUZZ_TEXT', AWKWARD),
    },
    {
      kind: 'own-field-name',
      once: 'fail',
      always: 'fail',
      apply: json ? jsonField('qexport_run', 'theirs') : xmlField('qexport_run', 'theirs'),
    },
  ];
  if (json && e.module !== 'mobile-assets')
    list.push({
      kind: 'beyond-2^53',
      once: 'exact',
      always: 'exact',
      content: { dialect: { bigNumbers: true } },
      apply: (r) => r, // the dialect serves them; the reply goes out as it is
    });
  return list;
}

/** Every mutation that applies to `e`, from its format and declaration. */
export function mutationsFor(e: FuzzEndpoint): Mutation[] {
  const out = [...transport(e.format)];
  if (e.format === 'json') out.push(...jsonStructure(e));
  if (e.format === 'json' && e.records) out.push(...jsonRecords(e));
  if (e.format === 'xml') out.push(...xmlStructure(e));
  if (e.records || e.recordElement) out.push(...content(e));
  return out;
}
