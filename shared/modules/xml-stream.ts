/**
 * Splits an XML response, as it arrives in text chunks, into its top-level record elements (HOST, ASSET, VULN)
 * and the envelope around them, so a page of tens of megabytes is never held whole: each record is handed over as
 * soon as its end tag has arrived, to be parsed by the strict reader (./xml.ts), and the envelope (everything
 * outside the records: DATETIME, WARNING, …) is kept as a small document of its own, parsed and checked against the
 * endpoint's declared shape when the body ends.
 *
 * The scanner understands exactly what can hide a tag: CDATA sections (a RESULTS text may hold `</HOST>`), comments
 * and processing instructions; quoted attribute values in the record's own start tags. It does not check
 * well-formedness itself: the record texts and the envelope together are the whole body, byte for byte, and each
 * is parsed strictly, so a body the scanner cuts in a wrong place fails one of those parses (a ParseError), never
 * reads as something else.
 *
 * Singletons on the way to the records (the root, RESPONSE, HOST_LIST) are checked as they open: a second one is
 * refused at once, before any record inside it is handed over (a repeated RESPONSE or list is never read as "no
 * records, no WARNING").
 */
import { ParseError } from '../errors';
import { parseXml } from './xml';
import { differences, type EndpointShape, type Field, type Shape } from '../qualys/shapes';

/** Largest envelope accepted (everything outside the records): a few kB in every documented response. */
export const MAX_ENVELOPE_CHARS = 1024 * 1024;
/** Largest single record accepted (a host with thousands of detections and 10 MB RESULTS fits many times). */
export const MAX_RECORD_CHARS = 256 * 1024 * 1024;

type Sub = 'content' | 'cdata' | 'comment' | 'pi';

const isWs = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;
/** A name ends here: `>`, `/` or white space (so `<HOST` does not match `<HOSTNAME>`). */
const endsName = (c: number) => c === 62 || c === 47 || isWs(c);

/**
 * The end (index of `>`) of the tag starting at `from`, skipping quoted attribute values; -1 when the text ends
 * first.
 */
function tagEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 62) return i;
    if (c === 34 || c === 39) {
      const close = text.indexOf(c === 34 ? '"' : "'", i + 1);
      if (close < 0) return -1;
      i = close;
    }
  }
  return -1;
}

export class RecordSplitter {
  private readonly path: readonly string[];
  private readonly name: string;
  private buf = '';
  private pos = 0;
  private inRecord = false;
  /** Envelope mode: the element stack; record mode: nesting of same-named elements inside the record. */
  private readonly stack: string[] = [];
  private depth = 0;
  private sub: Sub = 'content';
  private recStart = 0;
  private parts: string[] = [];
  private recChars = 0;
  private readonly env: string[] = [];
  private envChars = 0;
  /** Path singletons seen, per depth. */
  private readonly seen: boolean[] = [];
  private readonly ready: string[] = [];
  private ended = false;

  constructor(
    path: readonly string[],
    private readonly what: string,
  ) {
    if (path.length < 2) throw new Error('a record path names at least the root and the record element');
    this.path = path;
    this.name = path[path.length - 1]!;
  }

  /** Adds the next chunk of the body. */
  push(chunk: string): void {
    if (this.ended) throw new Error('RecordSplitter: push after end');
    // Between pushes the buffer holds only what is not consumed yet (a partial tag, or the unspilled tail of a
    // record): appending is cheap.
    this.buf = this.buf ? this.buf + chunk : chunk;
    this.scan();
  }

  /** The next complete record's text, in body order, or undefined when none is ready yet. */
  take(): string | undefined {
    return this.ready.shift();
  }

  /** Records ready to be taken. */
  get pending(): number {
    return this.ready.length;
  }

  /** The body has ended: returns the envelope's text (the body without its records). */
  end(): string {
    this.ended = true;
    if (this.inRecord) {
      throw new ParseError(`${this.what} ends inside a <${this.name}> record (the body was cut short)`);
    }
    this.envPush(this.buf.slice(this.pos));
    this.buf = '';
    this.pos = 0;
    return this.env.join('');
  }

  private envPush(text: string): void {
    if (!text) return;
    this.envChars += text.length;
    if (this.envChars > MAX_ENVELOPE_CHARS) {
      throw new ParseError(
        `${this.what}: more than ${MAX_ENVELOPE_CHARS} characters outside its <${this.name}> records; refused`,
      );
    }
    this.env.push(text);
  }

  /** Moves what the record has consumed so far out of the buffer (keeps the buffer small while a record grows). */
  private spill(cut: number): void {
    if (cut > this.recStart) {
      this.parts.push(this.buf.slice(this.recStart, cut));
      this.recChars += cut - this.recStart;
      if (this.recChars > MAX_RECORD_CHARS) {
        throw new ParseError(
          `${this.what}: a <${this.name}> record longer than ${MAX_RECORD_CHARS} characters`,
        );
      }
    }
    this.buf = this.buf.slice(cut);
    this.pos -= cut;
    this.recStart = 0;
  }

  private scan(): void {
    for (;;) {
      const more = this.inRecord ? this.scanRecord() : this.scanEnvelope();
      if (!more) return;
    }
  }

  /** Envelope text up to the next record start; false when more input is needed. */
  private scanEnvelope(): boolean {
    const t = this.buf;
    for (;;) {
      const lt = t.indexOf('<', this.pos);
      if (lt < 0) {
        this.envPush(t.slice(this.pos));
        this.buf = '';
        this.pos = 0;
        return false;
      }
      if (lt + 1 >= t.length) return this.keep(lt);
      const c = t.charCodeAt(lt + 1);
      let end: number;
      if (c === 33 /* ! */) {
        if (t.startsWith('![CDATA[', lt + 1)) end = t.indexOf(']]>', lt + 9) + 2;
        else if (t.startsWith('!--', lt + 1)) end = t.indexOf('-->', lt + 4) + 2;
        else if (t.length - lt < 9) return this.keep(lt);
        else end = t.indexOf('>', lt + 2);
        if (end < 2) return this.keep(lt);
      } else if (c === 63 /* ? */) {
        end = t.indexOf('?>', lt + 2);
        if (end < 0) return this.keep(lt);
        end += 1;
      } else if (c === 47 /* / */) {
        end = t.indexOf('>', lt + 2);
        if (end < 0) return this.keep(lt);
        this.stack.pop();
      } else {
        end = tagEnd(t, lt + 1);
        if (end < 0) return this.keep(lt);
        let n = lt + 1;
        while (n < end && !endsName(t.charCodeAt(n))) n++;
        const name = t.slice(lt + 1, n);
        const selfClosing = t.charCodeAt(end - 1) === 47;
        const d = this.stack.length;
        const onPath =
          d < this.path.length && name === this.path[d] && this.stack.every((s, i) => s === this.path[i]);
        if (onPath && d === this.path.length - 1) {
          // A record starts: its text leaves the envelope.
          this.envPush(t.slice(this.pos, lt));
          if (selfClosing) {
            this.ready.push(t.slice(lt, end + 1));
            this.pos = end + 1;
            continue;
          }
          this.inRecord = true;
          this.recStart = lt;
          this.pos = end + 1;
          this.depth = 1;
          this.sub = 'content';
          return true;
        }
        if (onPath) {
          if (this.seen[d]) {
            throw new ParseError(
              `${this.what}: <${name}> came twice${d ? ` in <${this.path[d - 1]}>` : ''}; a response has one`,
            );
          }
          this.seen[d] = true;
        }
        if (!selfClosing) this.stack.push(name);
      }
      this.envPush(t.slice(this.pos, end + 1));
      this.pos = end + 1;
    }
  }

  /** Keeps the unfinished markup at `at` for the next chunk. */
  private keep(at: number): false {
    this.envPush(this.buf.slice(this.pos, at));
    this.buf = this.buf.slice(at);
    this.pos = 0;
    return false;
  }

  /** Record text up to its end tag; false when more input is needed. */
  private scanRecord(): boolean {
    const t = this.buf;
    const name = this.name;
    for (;;) {
      if (this.sub !== 'content') {
        const close = this.sub === 'cdata' ? ']]>' : this.sub === 'comment' ? '-->' : '?>';
        const at = t.indexOf(close, this.pos);
        if (at < 0) {
          // Keep the last characters: the terminator may straddle the next chunk.
          this.pos = Math.max(this.pos, t.length - close.length + 1);
          this.spill(this.pos);
          return false;
        }
        this.pos = at + close.length;
        this.sub = 'content';
      }
      const lt = t.indexOf('<', this.pos);
      if (lt < 0) {
        this.pos = t.length;
        this.spill(this.pos);
        return false;
      }
      // Enough characters to classify the markup (`<![CDATA[`, `</NAME>`)?
      if (t.length - lt < Math.max(9, name.length + 3)) {
        this.pos = lt;
        this.spill(lt);
        return false;
      }
      const c = t.charCodeAt(lt + 1);
      if (c === 33 /* ! */) {
        if (t.startsWith('![CDATA[', lt + 1)) {
          this.sub = 'cdata';
          this.pos = lt + 9;
        } else if (t.startsWith('!--', lt + 1)) {
          this.sub = 'comment';
          this.pos = lt + 4;
        } else this.pos = lt + 2; // not allowed in content: the record's parse refuses it
        continue;
      }
      if (c === 63 /* ? */) {
        this.sub = 'pi';
        this.pos = lt + 2;
        continue;
      }
      if (c === 47 /* / */) {
        if (t.startsWith(name, lt + 2) && endsName(t.charCodeAt(lt + 2 + name.length))) {
          const gt = t.indexOf('>', lt + 2);
          if (gt < 0) {
            this.pos = lt;
            this.spill(lt);
            return false;
          }
          this.pos = gt + 1;
          if (--this.depth === 0) {
            this.spill(this.pos);
            this.ready.push(this.parts.length === 1 ? this.parts[0]! : this.parts.join(''));
            this.parts = [];
            this.recChars = 0;
            this.inRecord = false;
            return true;
          }
          continue;
        }
        this.pos = lt + 2;
        continue;
      }
      if (t.startsWith(name, lt + 1) && endsName(t.charCodeAt(lt + 1 + name.length))) {
        // A nested element of the record's own name: count it, so the record ends at its own end tag.
        const gt = tagEnd(t, lt + 1);
        if (gt < 0) {
          this.pos = lt;
          this.spill(lt);
          return false;
        }
        if (t.charCodeAt(gt - 1) !== 47) this.depth++;
        this.pos = gt + 1;
        continue;
      }
      this.pos = lt + 1;
    }
  }
}

// ------------------------------------------------------------------------------------------ shapes

/**
 * A declared envelope (records included, as the whole document would parse) split in two along the record path:
 * the shape of the envelope once its records are taken out (the record list's container then holds nothing but
 * white space, or its other children), and the shape of one record.
 */
export function splitEnvelope(
  endpoint: EndpointShape,
  path: readonly string[],
): { envelope: EndpointShape; record: Shape } {
  let record: Shape | undefined;
  const strip = (s: Shape, d: number): Shape => {
    if (s.t === 'oneOf') return { ...s, options: s.options.map((o) => strip(o, d)) };
    if (s.t !== 'object') return s;
    const key = path[d]!;
    const f = s.fields[key];
    if (!f) return s;
    const fields: Record<string, Field> = { ...s.fields };
    if (d < path.length - 1) {
      fields[key] = { ...f, shape: strip(f.shape, d + 1) };
      return { t: 'object', fields };
    }
    // The records' container: without its records it holds white space ('') or its other children.
    if (f.shape.t !== 'list')
      throw new Error(`${endpoint.what}: ${key} must be declared as a list of records`);
    record = f.shape.of;
    delete fields[key];
    return {
      t: 'oneOf',
      about: `<${path[d - 1]}> around its records`,
      options: [{ t: 'empty' }, { t: 'object', fields }],
    };
  };
  const body = strip(endpoint.body, 0);
  if (!record) throw new Error(`${endpoint.what}: the declared shape has no list at ${path.join('/')}`);
  return { envelope: { ...endpoint, body }, record };
}

/** Parses one record's text and checks it against the record shape; returns the record object. */
export function readRecord(
  text: string,
  name: string,
  shape: Shape,
  what: string,
  lists?: ReadonlySet<string>,
): Record<string, unknown> {
  const doc = parseXml(text, { lists });
  const rec = doc[name];
  const diffs = differences(shape, rec);
  if (diffs.length)
    throw new ParseError(`${what}: a <${name}> record does not have the declared shape: ${diffs.join('; ')}`);
  return rec as Record<string, unknown>;
}
