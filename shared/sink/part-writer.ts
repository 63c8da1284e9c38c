import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { createGzip } from 'node:zlib';
import { DEFAULT_GZIP_LEVEL } from '../config';
import { QexportError } from '../errors';
import { stringifyJson } from '../lossless-json';
import type { ObjectStore, PartInfo } from './types';

/** The field every line starts with: ties a record to its run in any SQL engine without parsing paths. */
export const RUN_FIELD = 'qexport_run';

/** `{"qexport_run":"<runId>",` — the start of every line of a run, computed once per part. */
export function runStamp(runId: string): string {
  return `{${JSON.stringify(RUN_FIELD)}:${JSON.stringify(runId)},`;
}

/**
 * One NDJSON line for `record`, optionally starting with the run stamp (the API's own fields follow, unchanged).
 * Integers beyond 2^53 (read as bigint, see shared/lossless-json.ts) are written with every digit; the common record
 * has none and is written by JSON.stringify alone (a replacer costs ~2x CPU). A record that already has a field
 * named like the stamp is refused: the line would carry the name twice, and readers keep one of the two.
 * Throws a clear error for values JSON cannot represent (cycles).
 */
export function toNdjsonLine(record: unknown, stamp = ''): string {
  if (record === null || typeof record !== 'object' || Array.isArray(record)) {
    throw new QexportError(
      'record',
      `a record must be a JSON object, got ${Array.isArray(record) ? 'an array' : typeof record}`,
    );
  }
  if (stamp && Object.hasOwn(record, RUN_FIELD)) {
    throw new QexportError(
      'record',
      `a record carries its own '${RUN_FIELD}' field, the name the exporter adds to every line to tie it to its run: ` +
        'it is not written, since readers would see only one of the two values; the API now sends a field of that ' +
        'name, which needs a new version of the exporter (README, "Output contract")',
    );
  }
  let json: string;
  try {
    json = stringifyJson(record);
  } catch (err) {
    throw new QexportError('record', `record cannot be written as JSON: ${(err as Error).message}`);
  }
  if (!stamp) return `${json}\n`;
  // '{' + stamp fields + the record's own fields ('{}' has none: close the stamp instead).
  return json.length === 2 ? `${stamp.slice(0, -1)}}\n` : `${stamp}${json.slice(1)}\n`;
}

/** Characters per piece of a page (see writePage): well under V8's large-object threshold (128 KiB). */
const PIECE = 32 * 1024;

/** Counts and hashes the bytes that pass through (the stored, compressed object). */
class HashCounter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

export interface PartWriter {
  readonly key: string;
  readonly records: number;
  readonly rawBytes: number;
  /** Writes records, waiting for backpressure so memory stays bounded. */
  writePage(records: readonly unknown[]): Promise<void>;
  /** Ends the stream and resolves once the object is stored. */
  close(): Promise<PartInfo>;
  /** Abandons the part (the upload fails; nothing becomes visible). */
  abort(reason: Error): void;
}

export interface PartOptions {
  /** zlib level, 1 (fast) … 9 (small): config.output.gzipLevel (QEXPORT_GZIP_LEVEL). */
  gzipLevel?: number;
  /** When set, every line starts with `"qexport_run":"<runId>"`. */
  runId?: string;
}

/**
 * Opens a streamed part: records → NDJSON → gzip → hash/count → store.putStream. Nothing is buffered beyond
 * the stream high-water marks and the store's upload buffers.
 */
export function openPart(store: ObjectStore, key: string, opts: PartOptions = {}): PartWriter {
  const gzipLevel = opts.gzipLevel ?? DEFAULT_GZIP_LEVEL;
  if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) {
    throw new QexportError('config', `gzip level must be a whole number from 1 to 9, got ${gzipLevel}`);
  }
  const stamp = opts.runId === undefined ? '' : runStamp(opts.runId);
  // Pages are written straight into gzip (one stream less per page); it hands out 64 KiB pieces, so the hash,
  // the store and the file or HTTP writes behind it see a quarter of the pieces its 16 KiB default would make.
  const gzip = createGzip({ level: gzipLevel, chunkSize: 64 * 1024 });
  const counter = new HashCounter();
  gzip.pipe(counter);
  const upload = store.putStream(key, counter, 'application/x-ndjson', 'gzip');
  // Surface an upload failure to writers waiting on 'drain'.
  let failed: Error | undefined;
  upload.catch((err: Error) => {
    failed = err;
    gzip.destroy(err);
  });
  gzip.on('error', (err) => counter.destroy(err));
  let records = 0;
  let rawBytes = 0;

  /** Hands `buf` to gzip, then waits until it has taken it (backpressure keeps memory bounded). */
  async function write(buf: Buffer): Promise<void> {
    if (failed) throw failed;
    if (!gzip.write(buf)) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          gzip.off('drain', onDrain);
          gzip.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(failed ?? new Error(`upload of ${key} was aborted`));
        gzip.once('drain', onDrain);
        gzip.once('close', onClose);
      });
    }
  }

  return {
    key,
    get records() {
      return records;
    },
    get rawBytes() {
      return rawBytes;
    },
    async writePage(page) {
      // Serialise the whole page first: a bad record fails the page before any of it is written. The text is
      // built in pieces of about PIECE characters, small enough for V8's young generation, and encoded into one
      // buffer for the page: one gzip write per page keeps stream overhead off the per-record path. One string
      // per page (1–2 MB) would be allocated in V8's large-object space and wait there for a full collection;
      // one write per piece costs a zlib round trip each (issue 14: measured both).
      const pieces: string[] = [];
      let chunk = '';
      let bytes = 0;
      for (const r of page) {
        chunk += toNdjsonLine(r, stamp);
        if (chunk.length >= PIECE) {
          bytes += Buffer.byteLength(chunk);
          pieces.push(chunk);
          chunk = '';
        }
      }
      if (chunk) {
        bytes += Buffer.byteLength(chunk);
        pieces.push(chunk);
      }
      if (!pieces.length) return;
      // One buffer for the page, each piece encoded straight into it: one gzip write per page.
      const buf = Buffer.allocUnsafe(bytes);
      let at = 0;
      for (const piece of pieces) at += buf.write(piece, at);
      pieces.length = 0;
      await write(buf);
      records += page.length;
      rawBytes += bytes;
    },
    async close() {
      gzip.end();
      await upload;
      return {
        key,
        records,
        bytes: counter.bytes,
        rawBytes,
        sha256: counter.hash.digest('hex'),
      };
    },
    abort(reason) {
      failed ??= reason;
      gzip.destroy(reason);
      counter.destroy(reason);
    },
  };
}
