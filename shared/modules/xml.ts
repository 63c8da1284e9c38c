import { ParseError, QexportError } from '../errors';

/** Largest XML body we parse (a truncation batch is bounded by truncation_limit; this guards memory). */
export const MAX_XML_BYTES = 256 * 1024 * 1024;
const MAX_DEPTH = 64;

/*
 * A strict, single-pass XML reader for the Qualys XML APIs (VMDR Mobile). One left-to-right scan of the
 * body checks well-formedness and builds the records at the same time: there is no separate precheck or
 * validator pass, and no path string is built per element. docs/benchmarks.md has the measurements that
 * made us write it instead of configuring fast-xml-parser (the design's first choice).
 *
 * What it produces (the output contract in README "Output contract"):
 * - an element with only text (or nothing) becomes a string ('' when empty); every value stays a string;
 * - an element with children or attributes becomes an object; attributes are `@_name`; text beside
 *   children or attributes is `#text`;
 * - text is trimmed per text segment (attribute values too), CDATA is kept exactly and becomes text;
 * - every child of an element whose name ends in `_LIST` (ASSET_LIST/ASSET, DETECTION_LIST/DETECTION, …) is
 *   an array however many there are; any element repeated under one parent is an array too.
 *
 * What it refuses, always with a ParseError (which the client retries and then fails the run on):
 * - anything not well-formed: truncation at any point, mismatched or unclosed tags, a second root element,
 *   text outside the root, `<` in attribute values, duplicate attributes, `]]>` in text, a bare `&`;
 * - a DOCTYPE with an internal subset, `<!ENTITY …>` anywhere, and references to undeclared entities (only
 *   the five predefined entities and character references are understood): no entity expansion, ever;
 * - nesting deeper than 64 levels and bodies larger than MAX_XML_BYTES.
 */

const C = {
  TAB: 9,
  LF: 10,
  CR: 13,
  SPACE: 32,
  BANG: 33,
  DQUOTE: 34,
  AMP: 38,
  SQUOTE: 39,
  DASH: 45,
  DOT: 46,
  SLASH: 47,
  COLON: 58,
  LT: 60,
  EQ: 61,
  GT: 62,
  QUESTION: 63,
  LBRACKET: 91,
  UNDERSCORE: 95,
} as const;

type XmlObject = Record<string, unknown>;

interface Frame {
  name: string;
  /** Children and attributes; created on first use so text-only elements cost no object. */
  obj: XmlObject | undefined;
  text: string;
  /** Children of *_LIST elements are always arrays. */
  list: boolean;
}

const isWs = (c: number) => c === C.SPACE || c === C.LF || c === C.CR || c === C.TAB;
const isNameStart = (c: number) =>
  (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === C.UNDERSCORE || c === C.COLON || c >= 0x80;
const isNameChar = (c: number) => isNameStart(c) || (c >= 48 && c <= 57) || c === C.DASH || c === C.DOT;

const DTD_REFUSED = 'XML with an internal DTD subset or entity declarations is refused';

function lineOf(text: string, pos: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < pos; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function fail(text: string, pos: number, message: string): never {
  const where = pos >= text.length ? 'end of document' : `line ${lineOf(text, pos)}`;
  throw new ParseError(`malformed XML at ${where}: ${message}`);
}

/** XML 1.0 Char production, for character references. */
function isXmlChar(cp: number): boolean {
  return (
    cp === 0x9 ||
    cp === 0xa ||
    cp === 0xd ||
    (cp >= 0x20 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp <= 0x10ffff)
  );
}

/** Replaces the predefined entities and character references in `s` (which contains '&'). */
function decodeEntities(text: string, s: string, at: number): string {
  let out = '';
  let last = 0;
  for (let i = s.indexOf('&'); i >= 0; i = s.indexOf('&', last)) {
    const semi = s.indexOf(';', i + 1);
    if (semi < 0 || semi - i > 10) fail(text, at + i, "'&' is not the start of an entity reference");
    const ref = s.slice(i + 1, semi);
    let ch: string;
    switch (ref) {
      case 'lt':
        ch = '<';
        break;
      case 'gt':
        ch = '>';
        break;
      case 'amp':
        ch = '&';
        break;
      case 'quot':
        ch = '"';
        break;
      case 'apos':
        ch = "'";
        break;
      default: {
        const m = /^#(?:([0-9]+)|x([0-9A-Fa-f]+))$/.exec(ref);
        if (!m) fail(text, at + i, `reference to undeclared entity '&${ref};'`);
        const cp = m[1] !== undefined ? Number(m[1]) : parseInt(m[2]!, 16);
        if (!isXmlChar(cp)) fail(text, at + i, `character reference '&${ref};' is not an XML character`);
        ch = String.fromCodePoint(cp);
      }
    }
    out += s.slice(last, i) + ch;
    last = semi + 1;
  }
  return out + s.slice(last);
}

/** Text content between markup, trimmed; entities decoded. */
function textValue(text: string, start: number, end: number): string {
  const raw = text.slice(start, end);
  const t = raw.trim();
  if (t === '') return t;
  if (t.includes(']]>')) fail(text, start, "']]>' is not allowed in text");
  return t.includes('&') ? decodeEntities(text, t, start + raw.indexOf(t[0]!)) : t;
}

/** Element names that are always arrays, wherever they appear (set for the duration of one parseXml call). */
let alwaysLists: ReadonlySet<string> | undefined;

function attach(parent: Frame, name: string, value: unknown): void {
  const list = parent.list || (alwaysLists !== undefined && alwaysLists.has(name));
  const obj = (parent.obj ??= {});
  if (name === '__proto__') {
    // An own property, never the prototype.
    const prev = Object.getOwnPropertyDescriptor(obj, name)?.value as unknown;
    const next = prev === undefined ? (list ? [value] : value) : Array.isArray(prev) ? prev : [prev];
    if (Array.isArray(next) && prev !== undefined) next.push(value);
    Object.defineProperty(obj, name, { value: next, enumerable: true, writable: true, configurable: true });
    return;
  }
  const prev = obj[name];
  // Values are strings, objects or arrays, never functions: a function is Object.prototype's (toString, …).
  if (prev === undefined || typeof prev === 'function') obj[name] = list ? [value] : value;
  else if (Array.isArray(prev)) prev.push(value);
  else obj[name] = [prev, value];
}

function finish(frame: Frame): unknown {
  const obj = frame.obj;
  if (obj === undefined) return frame.text;
  if (frame.text !== '') obj['#text'] = frame.text;
  return obj;
}

/** Reads a Name at `pos`; returns its end (exclusive) or fails. */
function nameEnd(text: string, pos: number, what: string): number {
  if (!isNameStart(text.charCodeAt(pos))) {
    fail(text, pos, pos >= text.length ? `${what} is cut short` : `invalid ${what}`);
  }
  let p = pos + 1;
  while (isNameChar(text.charCodeAt(p))) p++;
  return p;
}

function skipWs(text: string, pos: number): number {
  while (isWs(text.charCodeAt(pos))) pos++;
  return pos;
}

/** Parses the attributes of a start tag from `pos` (just after the name); returns [object, end, selfClosing]. */
function readAttributes(text: string, pos: number): [XmlObject, number, boolean] {
  const attrs: XmlObject = {};
  for (;;) {
    const ws = skipWs(text, pos);
    const c = text.charCodeAt(ws);
    if (c === C.GT) return [attrs, ws + 1, false];
    if (c === C.SLASH && text.charCodeAt(ws + 1) === C.GT) return [attrs, ws + 2, true];
    if (ws === pos) fail(text, pos, ws >= text.length ? 'start tag is cut short' : 'malformed start tag');
    const end = nameEnd(text, ws, 'attribute name');
    const key = `@_${text.slice(ws, end)}`;
    let p = skipWs(text, end);
    if (text.charCodeAt(p) !== C.EQ) fail(text, p, `attribute '${key.slice(2)}' has no value`);
    p = skipWs(text, p + 1);
    const q = text.charCodeAt(p);
    if (q !== C.DQUOTE && q !== C.SQUOTE) fail(text, p, 'attribute value is not quoted');
    const close = text.indexOf(q === C.DQUOTE ? '"' : "'", p + 1);
    if (close < 0) fail(text, text.length, 'attribute value is cut short');
    const raw = text.slice(p + 1, close).trim();
    if (raw.includes('<')) fail(text, p, "'<' in an attribute value");
    if (Object.hasOwn(attrs, key)) fail(text, ws, `duplicate attribute '${key.slice(2)}'`);
    attrs[key] = raw.includes('&') ? decodeEntities(text, raw, p + 1) : raw;
    pos = close + 1;
  }
}

/** Skips a DOCTYPE declaration without an internal subset; returns the position after it. */
function skipDoctype(text: string, pos: number): number {
  let p = pos + 9;
  for (;;) {
    const c = text.charCodeAt(p);
    if (Number.isNaN(c)) fail(text, p, 'DOCTYPE is cut short');
    if (c === C.LBRACKET) throw new ParseError(DTD_REFUSED);
    if (c === C.GT) return p + 1;
    if (c === C.DQUOTE || c === C.SQUOTE) {
      const close = text.indexOf(c === C.DQUOTE ? '"' : "'", p + 1);
      if (close < 0) fail(text, text.length, 'DOCTYPE is cut short');
      p = close + 1;
    } else p++;
  }
}

export interface ParseXmlOptions {
  /**
   * Elements that are arrays however many there are, beside the children of `*_LIST` elements (the repeating
   * elements of an API that are not in a `*_LIST`: TAGS/TAG, QDS_FACTORS/QDS_FACTOR, …).
   */
  lists?: ReadonlySet<string>;
}

/**
 * Parses an XML document in one strict pass; malformed or truncated input is a ParseError (retryable).
 * Returns `{ <root element name>: value }`.
 */
export function parseXml(text: string, opts: ParseXmlOptions = {}): Record<string, unknown> {
  alwaysLists = opts.lists;
  try {
    return parseDocument(text);
  } finally {
    alwaysLists = undefined;
  }
}

function parseDocument(text: string): Record<string, unknown> {
  if (text.length > MAX_XML_BYTES) {
    throw new ParseError(`XML body of ${text.length} bytes exceeds the ${MAX_XML_BYTES}-byte limit`);
  }
  const len = text.length;
  const doc: Frame = { name: '', obj: undefined, text: '', list: false };
  const stack: Frame[] = [];
  let top = doc;
  let start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let pos = start;
  let rootDone = false;
  let doctypeSeen = false;

  while (pos < len) {
    const lt = text.indexOf('<', pos);
    const segEnd = lt < 0 ? len : lt;
    if (segEnd > pos) {
      if (stack.length === 0) {
        for (let i = pos; i < segEnd; i++) {
          if (!isWs(text.charCodeAt(i))) fail(text, i, 'text outside the root element');
        }
      } else {
        const t = textValue(text, pos, segEnd);
        if (t !== '') top.text += t;
      }
    }
    if (lt < 0) break;
    const c = text.charCodeAt(lt + 1);

    if (c === C.SLASH) {
      // End tag.
      if (stack.length === 0) fail(text, lt, 'end tag without a start tag');
      const name = top.name;
      if (!text.startsWith(name, lt + 2) || isNameChar(text.charCodeAt(lt + 2 + name.length))) {
        const got = text.slice(lt + 2, nameEnd(text, lt + 2, 'end tag name'));
        fail(text, lt, `end tag </${got}> does not match <${name}>`);
      }
      const gt = skipWs(text, lt + 2 + name.length);
      if (text.charCodeAt(gt) !== C.GT) fail(text, gt, `end tag </${name}> is not closed`);
      const value = finish(top);
      stack.pop();
      top = stack.length ? stack[stack.length - 1]! : doc;
      attach(top, name, value);
      if (stack.length === 0) rootDone = true;
      pos = gt + 1;
      continue;
    }

    if (c === C.BANG) {
      if (text.startsWith('!--', lt + 1)) {
        const end = text.indexOf('-->', lt + 4);
        if (end < 0) fail(text, len, 'comment is cut short');
        if (text.indexOf('--', lt + 4) !== end) fail(text, lt, "'--' inside a comment");
        pos = end + 3;
      } else if (text.startsWith('![CDATA[', lt + 1)) {
        if (stack.length === 0) fail(text, lt, 'CDATA outside the root element');
        const end = text.indexOf(']]>', lt + 9);
        if (end < 0) fail(text, len, 'CDATA section is cut short');
        top.text += text.slice(lt + 9, end);
        pos = end + 3;
      } else if (text.startsWith('!DOCTYPE', lt + 1)) {
        if (doctypeSeen || stack.length || rootDone)
          fail(text, lt, 'DOCTYPE after the start of the document');
        doctypeSeen = true;
        pos = skipDoctype(text, lt);
      } else if (text.startsWith('!ENTITY', lt + 1)) {
        throw new ParseError(DTD_REFUSED);
      } else {
        fail(text, lt, lt + 1 >= len ? 'markup is cut short' : "unknown markup after '<!'");
      }
      continue;
    }

    if (c === C.QUESTION) {
      const end = text.indexOf('?>', lt + 2);
      if (end < 0) fail(text, len, 'processing instruction is cut short');
      const target = text.slice(lt + 2, nameEnd(text, lt + 2, 'processing instruction target'));
      if (target.toLowerCase() === 'xml' && lt !== start) {
        fail(text, lt, 'XML declaration is not at the start of the document');
      }
      start = -1; // only the very first markup may be the declaration
      pos = end + 2;
      continue;
    }

    // Start tag.
    start = -1;
    if (rootDone) fail(text, lt, 'a second root element');
    const nEnd = nameEnd(text, lt + 1, 'element name');
    const name = text.slice(lt + 1, nEnd);
    if (stack.length >= MAX_DEPTH) {
      throw new ParseError(`XML nesting deeper than ${MAX_DEPTH} levels is refused`);
    }
    const after = text.charCodeAt(nEnd);
    if (after === C.GT) {
      // Fast path: <NAME>text</NAME>, the shape of nearly every element in the Qualys XML APIs.
      const next = text.indexOf('<', nEnd + 1);
      if (
        next >= 0 &&
        text.charCodeAt(next + 1) === C.SLASH &&
        text.charCodeAt(next + 2 + name.length) === C.GT &&
        text.startsWith(name, next + 2)
      ) {
        attach(top, name, textValue(text, nEnd + 1, next));
        pos = next + 3 + name.length;
        if (stack.length === 0) rootDone = true;
        continue;
      }
      top = { name, obj: undefined, text: '', list: name.endsWith('_LIST') };
      stack.push(top);
      pos = nEnd + 1;
      continue;
    }
    if (after === C.SLASH && text.charCodeAt(nEnd + 1) === C.GT) {
      attach(top, name, '');
      pos = nEnd + 2;
      if (stack.length === 0) rootDone = true;
      continue;
    }
    if (!isWs(after)) fail(text, nEnd, nEnd >= len ? 'start tag is cut short' : 'malformed start tag');
    const [attrs, end, selfClosing] = readAttributes(text, nEnd);
    const empty = Object.keys(attrs).length === 0;
    if (selfClosing) {
      attach(top, name, empty ? '' : attrs);
      if (stack.length === 0) rootDone = true;
    } else {
      top = { name, obj: empty ? undefined : attrs, text: '', list: name.endsWith('_LIST') };
      stack.push(top);
    }
    pos = end;
  }

  if (stack.length) fail(text, len, `element <${top.name}> is not closed (truncated document?)`);
  if (!rootDone || !doc.obj) throw new ParseError('XML document has no root element');
  return doc.obj;
}

/** A SIMPLE_RETURN error document → a clear error with CODE and TEXT; undefined for other documents. */
export function simpleReturnError(doc: Record<string, unknown>): QexportError | undefined {
  const sr = doc.SIMPLE_RETURN as { RESPONSE?: { CODE?: unknown; TEXT?: unknown } } | undefined;
  if (!sr) return undefined;
  const code = String(sr.RESPONSE?.CODE ?? 'unknown');
  const text = String(sr.RESPONSE?.TEXT ?? '');
  return new QexportError('api', `Qualys answered SIMPLE_RETURN code ${code}: ${text}`);
}

/**
 * Whether a document ends as a complete one can: its last markup, after trailing whitespace, comments and
 * processing instructions, closes an element (`</NAME>` or `/>`). A cheap look at the end only, to catch a body
 * that stopped half-way before anything is done with it; `parseXml` is the strict check.
 */
export function endsLikeXml(text: string): boolean {
  let end = text.length;
  for (;;) {
    while (end > 0 && isWs(text.charCodeAt(end - 1))) end--;
    const trailer = text.endsWith('-->', end) ? '<!--' : text.endsWith('?>', end) ? '<?' : undefined;
    if (!trailer) break;
    const open = text.lastIndexOf(trailer, end - 3);
    if (open < 0) return false;
    end = open;
  }
  if (end < 2 || text[end - 1] !== '>') return false;
  if (text[end - 2] === '/') return true;
  const lt = text.lastIndexOf('<', end - 1);
  return lt >= 0 && /^<\/[A-Za-z_][\w.:-]*\s*>$/.test(text.slice(lt, end));
}
