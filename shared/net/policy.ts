/**
 * The outbound-request policy: the one place every request the product makes goes through — the Qualys client's
 * data calls (shared/qualys/client.ts), the token requests (shared/auth/obtain.ts) and the JWKS that jose fetches
 * (shared/auth/check.ts, through `policyFetch`). Whatever `fetch` is injected (Node's, the proxy-aware one, a
 * test's), these rules hold:
 *
 * - a request goes only to an origin its caller configured, over https (http only on loopback);
 * - redirects are never followed (`redirect: 'manual'`): a 3xx fails at once, naming its status and the origin of
 *   its Location only, so nothing — no credential, no body — is sent anywhere else, and it is not retried;
 * - a body is bounded on the wire (a declared Content-Length above the bound is refused unread; a body without
 *   content coding is counted as it arrives) and after decompression (gzip, deflate and br are counted as they are
 *   inflated and abandoned past the bound, so a small compressed bomb never grows in memory);
 * - a 2xx body must declare a type of the kind the caller expects (JSON, XML, or a token's plain text; an absent
 *   Content-Type is allowed and the body is then judged by its parse and declared shape) and be UTF-8: a charset
 *   other than UTF-8, a UTF-16/32 byte order mark or byte pattern, or bytes that are not valid UTF-8 are refused,
 *   never decoded with replacement characters; an XML declaration naming another encoding is refused too. Such a
 *   body is unreadable (a ParseError: the client retries it, then fails naming what was wrong).
 *
 * Bodies of error answers (4xx, 5xx) are read under the same bounds and decoded leniently: they are only ever
 * searched for a SIMPLE_RETURN code or a wait and quoted, redacted, in messages.
 */
import { isUtf8 } from 'node:buffer';
import { ParseError, PolicyError } from '../errors';
import { redact } from '../log';
import { assertAllowedOrigin } from '../qualys/origin';

/** What a body may weigh. */
export interface BodyLimits {
  /** Bytes on the wire: the declared Content-Length, and the body as counted when it has no content coding. */
  maxResponseBytes: number;
  /** Bytes after content decoding (gzip, deflate, br), counted as they are inflated. */
  maxDecodedBytes: number;
}

/**
 * Defaults of QEXPORT_MAX_RESPONSE_BYTES / QEXPORT_MAX_DECODED_BYTES: the largest page an endpoint can
 * legitimately return at its largest page size, with margin (the computation is in docs/security.md).
 */
export const DEFAULT_BODY_LIMITS: BodyLimits = {
  maxResponseBytes: 256 * 1024 * 1024,
  maxDecodedBytes: 256 * 1024 * 1024,
};

/** Token answers and a JWKS are a few kilobytes: a megabyte is generous and keeps a bomb there tiny. */
export const AUTH_BODY_LIMITS: BodyLimits = { maxResponseBytes: 1024 * 1024, maxDecodedBytes: 1024 * 1024 };

/** The kind of body a request expects, which decides the Content-Types accepted on a 2xx. */
export type BodyKind = 'json' | 'xml' | 'text';

const TYPES: Record<BodyKind, { re: RegExp; says: string }> = {
  json: { re: /^application\/(?:[\w.-]+\+)?json$/, says: 'application/json (or another JSON type)' },
  xml: { re: /^(?:application|text)\/(?:[\w.-]+\+)?xml$/, says: 'application/xml or text/xml' },
  // A bare JWT: what /auth, /auth/oidc and /auth/oauth answer with is not published, so the plausible labels are
  // taken and the body itself must be a JWT (checked by the caller).
  text: { re: /^(?:text\/plain|application\/jwt|application\/json)$/, says: 'text/plain or application/jwt' },
};

export interface Outbound {
  /** Origins (`scheme://host:port`) the request may go to. */
  allow: readonly string[];
  limits: BodyLimits;
  /** Names the request in messages, e.g. 'pci-scans offset 11' or 'qualys-oidc token request'. */
  what: string;
}

const locationOrigin = (res: Response, url: URL): string => {
  const loc = res.headers.get('location');
  if (loc === null) return 'no Location';
  try {
    return new URL(loc, url).origin;
  } catch {
    return 'an unreadable Location';
  }
};

/** Lets go of a body that will not be read (so its connection is freed). */
function discard(res: Response): void {
  res.body?.cancel().catch(() => undefined);
}

/**
 * Sends one request under the policy and resolves with the response, its body unread. Throws OriginError before
 * sending to an origin not allowed, PolicyError for a 3xx (nothing is sent to its target) or for a declared
 * Content-Length above the bound.
 */
export async function send(
  fetchImpl: typeof fetch,
  url: URL,
  init: RequestInit,
  o: Outbound,
): Promise<Response> {
  assertAllowedOrigin(url.href, o.allow);
  const res = await fetchImpl(url, { ...init, redirect: 'manual' });
  if ((res.status >= 300 && res.status < 400) || res.type === 'opaqueredirect') {
    discard(res);
    throw new PolicyError(
      'redirect',
      `${o.what}: HTTP ${res.status || '3xx'} redirect to ${locationOrigin(res, url)} refused: redirects are never ` +
        `followed, so nothing was sent there (requests go only to ${url.origin}); check the configured URL`,
      res.status,
    );
  }
  const declared = res.headers.get('content-length');
  if (declared !== null && /^\d+$/.test(declared.trim()) && Number(declared) > o.limits.maxResponseBytes) {
    discard(res);
    throw tooLarge(o, `declares ${Number(declared)} bytes`, 'QEXPORT_MAX_RESPONSE_BYTES', res.status);
  }
  return res;
}

function tooLarge(o: Outbound, what: string, setting: string, status: number): PolicyError {
  return new PolicyError(
    'too-large',
    `${o.what}: the response body ${what}, more than the ${setting === 'QEXPORT_MAX_DECODED_BYTES' ? o.limits.maxDecodedBytes : o.limits.maxResponseBytes} ` +
      `allowed (${setting}); it was abandoned unread. Lower the page size, or raise ${setting} if such pages are expected`,
    status,
  );
}

/** Whether the body arrives content-coded (gzip, deflate, br): then fetch inflates it and the wire is not seen. */
function isEncoded(headers: Headers): boolean {
  const ce = headers.get('content-encoding');
  return ce !== null && ce.trim() !== '' && ce.trim().toLowerCase() !== 'identity';
}

/** Counts a body's bytes as they arrive and refuses it past its bound. */
export class BodyMeter {
  bytes = 0;
  private readonly max: number;
  private readonly setting: string;
  constructor(
    private readonly res: Response,
    private readonly o: Outbound,
  ) {
    // Without content coding the bytes counted are the bytes on the wire: both bounds apply.
    const encoded = isEncoded(res.headers);
    const wire = !encoded && o.limits.maxResponseBytes < o.limits.maxDecodedBytes;
    this.max = wire ? o.limits.maxResponseBytes : o.limits.maxDecodedBytes;
    this.setting = wire ? 'QEXPORT_MAX_RESPONSE_BYTES' : 'QEXPORT_MAX_DECODED_BYTES';
  }
  /** Adds a chunk; throws PolicyError past the bound. */
  add(n: number): void {
    this.bytes += n;
    if (this.bytes > this.max) {
      throw tooLarge(
        this.o,
        `${this.setting === 'QEXPORT_MAX_DECODED_BYTES' && isEncoded(this.res.headers) ? 'inflates to' : 'is'} more than ${this.max} bytes`,
        this.setting,
        this.res.status,
      );
    }
  }
}

/** Reads the whole body under the bounds (the request's abort signal, e.g. its timeout, stops it too). */
export async function readBody(res: Response, o: Outbound, signal?: AbortSignal): Promise<Buffer> {
  const reader = res.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const meter = new BodyMeter(res, o);
  const chunks: Uint8Array[] = [];
  try {
    for (;;) {
      const { done, value } = await readWithin(reader, signal);
      if (done) break;
      meter.add(value.byteLength);
      chunks.push(value);
    }
  } catch (err) {
    reader.cancel().catch(() => undefined);
    throw err;
  }
  return chunks.length === 1
    ? Buffer.from(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.byteLength)
    : Buffer.concat(chunks, meter.bytes);
}

/**
 * One read of a body that gives up when `signal` aborts (with its reason), whether or not the stream behind it
 * listens to that signal: a timeout never waits on a body that stopped sending.
 */
export function readWithin<T>(
  reader: ReadableStreamDefaultReader<T>,
  signal: AbortSignal | undefined,
): ReturnType<ReadableStreamDefaultReader<T>['read']> {
  if (!signal) return reader.read();
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    reader.read().then(
      (r) => {
        signal.removeEventListener('abort', onAbort);
        resolve(r);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** The media type and charset of a Content-Type header (lower case), or undefined when absent. */
export function mediaType(headers: Headers): { type: string; charset?: string } | undefined {
  const raw = headers.get('content-type');
  if (raw === null || raw.trim() === '') return undefined;
  const [type, ...params] = raw.split(';');
  let charset: string | undefined;
  for (const p of params) {
    const m = /^\s*charset\s*=\s*"?([^";]*)"?\s*$/i.exec(p);
    if (m) charset = m[1]!.trim().toLowerCase();
  }
  return { type: type!.trim().toLowerCase(), charset };
}

const UTF8 = new Set(['utf-8', 'utf8']);

/**
 * Refuses a 2xx whose Content-Type is not of the expected kind, or whose charset is not UTF-8 (ParseError: the
 * body is unreadable). An absent Content-Type passes: the body is judged by its parse and declared shape.
 */
export function checkContentType(headers: Headers, kind: BodyKind, what: string): void {
  const mt = mediaType(headers);
  if (!mt) return;
  const want = TYPES[kind];
  const raw = headers.get('content-type')!;
  // Two Content-Type headers arrive joined by a comma (a media type has none outside a quoted parameter).
  if (/,(?=(?:[^"]*"[^"]*")*[^"]*$)/.test(raw)) {
    throw new ParseError(
      `${what}: the response is ${JSON.stringify(raw.slice(0, 80))}, not ${want.says} (it names more than one Content-Type)`,
    );
  }
  if (!want.re.test(mt.type)) {
    throw new ParseError(
      `${what}: the response is ${JSON.stringify(headers.get('content-type')!.slice(0, 80))}, not ${want.says}` +
        (/html/.test(mt.type) ? ' (an HTML page: an error or login page in front of the API?)' : ''),
    );
  }
  if (mt.charset !== undefined && !UTF8.has(mt.charset)) {
    throw new ParseError(
      `${what}: the response is in charset '${mt.charset.slice(0, 40)}'; only UTF-8 is read (never re-decoded or guessed)`,
    );
  }
}

/** A UTF-16/32 byte order mark, or the NUL pattern of UTF-16/32 text (RFC 4627 §3), at the start of a body. */
function wideEncoding(b: Uint8Array): string | undefined {
  if (b.length >= 2 && ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0xff && b[1] === 0xfe)))
    return 'a UTF-16 (or UTF-32) byte order mark';
  if (b.length >= 2 && (b[0] === 0 || b[1] === 0)) return 'NUL bytes where text starts (UTF-16 or UTF-32)';
  return undefined;
}

/** `<?xml … encoding="X" ?>` naming anything but UTF-8 (the declaration is the document's own claim). */
function xmlDeclarationProblem(text: string): string | undefined {
  const m = /^\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']/.exec(text.slice(0, 200));
  if (m && !UTF8.has(m[1]!.trim().toLowerCase()))
    return `its XML declaration says encoding="${m[1]!.slice(0, 40)}"`;
  return undefined;
}

const UTF8_BOM = (b: Uint8Array) => b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf;

/** Decodes a whole 2xx body strictly: the expected type, UTF-8 only, valid UTF-8 only (a UTF-8 BOM is dropped). */
export function decodeStrict(buf: Buffer, headers: Headers, kind: BodyKind, what: string): string {
  checkContentType(headers, kind, what);
  const wide = wideEncoding(buf);
  if (wide) throw new ParseError(`${what}: the body starts with ${wide}; only UTF-8 is read`);
  if (!isUtf8(buf))
    throw new ParseError(`${what}: the body is not valid UTF-8 (another charset, or cut mid-character)`);
  const text = buf.toString('utf8', UTF8_BOM(buf) ? 3 : 0);
  if (kind === 'xml') {
    const p = xmlDeclarationProblem(text);
    if (p) throw new ParseError(`${what}: ${p}; only UTF-8 is read`);
  }
  return text;
}

/** An error answer's body, for codes and messages only: replacement characters are harmless there. */
export function decodeLenient(buf: Buffer): string {
  return buf.toString('utf8');
}

/**
 * A streaming UTF-8 decoder with the same checks as `decodeStrict` (the BOM and declaration looked at in the first
 * bytes): `push` gives the text of each chunk (a character split between chunks is carried over), `end` the rest.
 */
export class StrictTextStream {
  private readonly decoder = new TextDecoder('utf-8', { fatal: true });
  private started = false;
  private head = '';
  constructor(
    private readonly kind: BodyKind,
    private readonly what: string,
  ) {}
  push(chunk: Uint8Array): string {
    if (!this.started && chunk.byteLength > 0) {
      this.started = true;
      const wide = wideEncoding(chunk);
      if (wide) throw new ParseError(`${this.what}: the body starts with ${wide}; only UTF-8 is read`);
    }
    return this.checked(this.decode(chunk, true));
  }
  end(): string {
    return this.checked(this.decode(undefined, false));
  }
  private decode(chunk: Uint8Array | undefined, stream: boolean): string {
    try {
      return this.decoder.decode(chunk, { stream });
    } catch {
      throw new ParseError(
        `${this.what}: the body is not valid UTF-8 (another charset, or cut mid-character)`,
      );
    }
  }
  private checked(text: string): string {
    if (this.kind === 'xml' && this.head.length < 200) {
      this.head += text.slice(0, 200);
      const p = xmlDeclarationProblem(this.head);
      if (p) throw new ParseError(`${this.what}: ${p}; only UTF-8 is read`);
    }
    return text;
  }
}

/**
 * A `fetch` for libraries that take one (jose's JWKS): the same policy, and the 2xx body handed back only after it
 * passed the type, charset and bounds checks and, when given, `check` (e.g. its declared shape). The Response it
 * returns holds the checked text.
 */
export function policyFetch(
  fetchImpl: typeof fetch,
  o: Outbound & { kind: BodyKind; check?: (text: string) => void },
): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const res = await send(fetchImpl, url, init ?? {}, o);
    const buf = await readBody(res, o, init?.signal ?? undefined);
    const ok = res.status >= 200 && res.status < 300;
    const text = ok ? decodeStrict(buf, res.headers, o.kind, o.what) : decodeLenient(buf);
    if (ok) o.check?.(text);
    const headers = new Headers(res.headers);
    headers.delete('content-encoding');
    headers.delete('content-length');
    return new Response(text, { status: res.status, statusText: res.statusText, headers });
  };
}

/** Query parameter names that carry credentials (token=, access_token=, X-Amz-Signature=, apikey=, …). */
const CREDENTIAL_PARAM =
  /(^|[_.-])(token|access[_-]?token|id[_-]?token|secret|client[_-]?secret|password|passwd|pwd|auth|authorization|api[_-]?key|apikey|key|sig|signature|session|jwt|credentials?)$/i;

/**
 * Why a URL handed over by an API (a continuation) must not be followed or stored: it has user:password, a
 * parameter named like a credential, or a value this process holds as a secret. Names the parameter, never its
 * value; undefined when the URL carries none.
 */
export function credentialInUrl(url: URL): string | undefined {
  if (url.username || url.password) return 'a user name or password before its host';
  for (const [name, value] of url.searchParams) {
    if (CREDENTIAL_PARAM.test(name)) return `a parameter named '${name.slice(0, 40)}'`;
    if (value && redact(value) !== value) return `a credential in parameter '${name.slice(0, 40)}'`;
  }
  return undefined;
}
