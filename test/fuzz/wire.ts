/** Helpers that rewrite a simulator reply on the wire (headers, bytes, content coding). */
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { WireReply } from '../sim';

export const header = (r: WireReply, name: string): string | undefined =>
  r.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

/** A copy with `name` set to `value` (every earlier value removed); undefined removes it. */
export function withHeader(r: WireReply, name: string, value: string | undefined): WireReply {
  const headers = r.headers.filter(([k]) => k.toLowerCase() !== name.toLowerCase());
  if (value !== undefined) headers.push([name, value]);
  return { ...r, headers };
}

/** A copy with one more `name: value` line (a header repeated). */
export const addHeader = (r: WireReply, name: string, value: string): WireReply => ({
  ...r,
  headers: [...r.headers, [name, value]],
});

export const bodyBytes = (r: WireReply): Buffer =>
  typeof r.body === 'string' ? Buffer.from(r.body) : r.body;
export const bodyText = (r: WireReply): string => bodyBytes(r).toString('utf8');

/** A copy with this body, its Content-Length matching. */
export function withBody(r: WireReply, body: Buffer | string): WireReply {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return withHeader({ ...r, body: bytes }, 'content-length', String(bytes.length));
}

export type Coding = 'gzip' | 'deflate' | 'br';
const ENCODE: Record<Coding, (b: Buffer) => Buffer> = {
  gzip: (b) => gzipSync(b),
  deflate: (b) => deflateSync(b),
  br: (b) => brotliCompressSync(b),
};

/** The same body, content-coded (what a server or proxy does when the client accepts it). */
export function compressed(r: WireReply, coding: Coding): WireReply {
  return withHeader(withBody(r, ENCODE[coding](bodyBytes(r))), 'content-encoding', coding);
}

const MEMBER_BYTES = 64 * 1024 * 1024;
let member: Buffer | undefined;

/**
 * A gzip body that inflates to at least `decodedBytes` of spaces: gzip members of 64 MiB each (about 65 KB on the
 * wire), concatenated, as a gzip stream may be. 1 GB inflated is about 1 MB on the wire.
 */
export function gzipBomb(decodedBytes: number): Buffer {
  member ??= gzipSync(Buffer.alloc(MEMBER_BYTES, 0x20), { level: 9 });
  return Buffer.concat(
    Array.from({ length: Math.max(1, Math.ceil(decodedBytes / MEMBER_BYTES)) }, () => member!),
  );
}

/** The reply with a gzip bomb for a body (Content-Encoding gzip). */
export const bombed = (r: WireReply, bomb: Buffer): WireReply =>
  withHeader(withBody(r, bomb), 'content-encoding', 'gzip');
