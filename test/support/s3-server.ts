import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';
import { createWriteStream } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import type * as nodeCrypto from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * s3rver 3.7.1 answers a PutObject before the object's file is flushed, and writes it in place: a read right
 * after a write (or during one) can see an empty or partial object, which real S3 never shows (it is
 * read-after-write consistent and objects appear whole). Its store is patched here to write a temporary file,
 * wait until it is closed, and rename it into place before answering.
 */
let patched = false;
function makeS3rverWritesAtomic(): void {
  if (patched) return;
  patched = true;
  const proto = FilesystemStore.prototype as unknown as {
    getResourcePath(bucket: string, key: string, kind: string): string;
    putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
    putObject(object: {
      bucket: string;
      key: string;
      content: Buffer | Readable;
      metadata: unknown;
    }): Promise<unknown>;
  };
  proto.putObject = async function (object) {
    const target = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomBytes(4).toString('hex')}`;
    const md5 = createHash('md5');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        md5.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    const source = Buffer.isBuffer(object.content) ? [object.content] : object.content;
    try {
      await pipeline(source, count, createWriteStream(tmp));
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const digest = md5.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
}

/**
 * s3rver 3.7.1 builds ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17+) refuses without
 * its legacy provider: every listing longer than one page (1,000 keys) answers 500 — the stand-in could not show
 * pagination at all (moto_server does). Its `crypto` calls for 'des' are served here by AES-128-CBC with the same
 * 8-byte key and IV widened to 16 bytes: the token stays opaque and round-trips, which is all S3 promises.
 */
let paginationPatched = false;
function makeS3rverPaginationWork(): void {
  if (paginationPatched) return;
  paginationPatched = true;
  // The module object s3rver's require('crypto') returns (not an ESM namespace, which cannot be patched).
  const crypto = process.getBuiltinModule('node:crypto') as typeof nodeCrypto;
  const widen = (b: Buffer) => Buffer.concat([b, b]);
  const cipheriv = crypto.createCipheriv.bind(crypto);
  const decipheriv = crypto.createDecipheriv.bind(crypto);
  Object.assign(crypto, {
    createCipheriv: (alg: string, key: Buffer, iv: Buffer, ...rest: unknown[]) =>
      alg === 'des'
        ? cipheriv('aes-128-cbc', widen(key), widen(iv))
        : (cipheriv as (...a: unknown[]) => unknown)(alg, key, iv, ...rest),
    createDecipheriv: (alg: string, key: Buffer, iv: Buffer, ...rest: unknown[]) =>
      alg === 'des'
        ? decipheriv('aes-128-cbc', widen(key), widen(iv))
        : (decipheriv as (...a: unknown[]) => unknown)(alg, key, iv, ...rest),
  });
}

/**
 * s3rver 3.7.1 lists with a delimiter by walking its directories, and skips every directory below a common prefix
 * before it reaches the files that would name that prefix: `prefix/dt=…/run=…/part` yields no CommonPrefixes at
 * all (S3 and moto_server answer `prefix/dt=…/`). Its store is patched to list without the delimiter and group
 * the keys itself, as S3 does (common prefixes first page; enough for a stand-in).
 */
let delimiterPatched = false;
function makeS3rverDelimiterWork(): void {
  if (delimiterPatched) return;
  delimiterPatched = true;
  type Listed = { objects: { key: string }[]; commonPrefixes: string[]; isTruncated: boolean };
  type Options = { delimiter?: string; prefix?: string; maxKeys?: number; startAfter?: string };
  const proto = FilesystemStore.prototype as unknown as {
    listObjects(bucket: string, options: Options): Promise<Listed>;
  };
  const list = proto.listObjects;
  proto.listObjects = async function (bucket, options) {
    const { delimiter, prefix = '', maxKeys = Infinity } = options;
    if (!delimiter) return list.call(this, bucket, options);
    const all = await list.call(this, bucket, { ...options, delimiter: '', maxKeys: Infinity });
    const commonPrefixes = new Set<string>();
    const objects = all.objects.filter((o) => {
      const idx = o.key.slice(prefix.length).indexOf(delimiter);
      if (idx === -1) return true;
      commonPrefixes.add(o.key.slice(0, prefix.length + idx + 1));
      return false;
    });
    return {
      objects: objects.slice(0, maxKeys),
      commonPrefixes: [...commonPrefixes].sort(),
      isTruncated: objects.length > maxKeys,
    };
  };
}

/**
 * An S3-compatible server (s3rver) on 127.0.0.1 with a fresh bucket, and an SDK client for it.
 * s3rver stores a streamed PutObject with the SDK's default aws-chunked checksum framing inside the object,
 * so the test client sends checksums only when required (tests only; real S3 needs no such setting).
 *
 * s3rver 3.7.1 ignores `If-None-Match` / `If-Match` on PUT, so the endpoint tests talk to is a small proxy that
 * gives PutObject S3's conditional-write semantics: per key, one conditional PUT at a time; the condition is
 * checked against the stored object's ETag and a failed one is answered `412 PreconditionFailed` as S3 does —
 * except `If-Match` on a key that does not exist, which S3 (and moto_server) answer `404 NoSuchKey`.
 * It can also answer reads of missing keys with 403 AccessDenied, as S3 does for a caller without ListBucket,
 * and refuse reads of chosen keys that exist (a KMS key, bucket policy or SCP that denies them).
 */
export interface S3Server {
  endpoint: string;
  bucket: string;
  client: S3Client;
  dir: string;
  listKeys(prefix?: string): Promise<string[]>;
  getObject(key: string): Promise<Buffer>;
  /** Writes an object as it is (no JSON handling): e.g. a damaged state file. */
  putText(key: string, text: string): Promise<void>;
  /** While on, GET/HEAD of a missing key answers 403 AccessDenied instead of 404 NoSuchKey. */
  denyMissingReads(on: boolean): void;
  /** GET/HEAD of keys matching `pattern` answer 403 AccessDenied whether they exist or not (undefined: none). */
  denyReads(pattern: RegExp | undefined): void;
  /** Conditional PUTs answered 412 so far. */
  preconditionFailures(): number;
  close(): Promise<void>;
}

export function s3ClientFor(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

const errorXml = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;

function forward(req: IncomingMessage, res: ServerResponse, port: number): Promise<void> {
  return new Promise((resolve) => {
    const upstream = httpRequest(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', () => resolve());
        up.on('error', () => resolve());
      },
    );
    upstream.on('error', () => {
      res.destroy();
      resolve();
    });
    req.pipe(upstream);
  });
}

function reply(res: ServerResponse, status: number, code: string, message: string): void {
  const body = errorXml(code, message);
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startS3Server(bucket = 'qexport-test'): Promise<S3Server> {
  makeS3rverWritesAtomic();
  makeS3rverPaginationWork();
  makeS3rverDelimiterWork();
  const dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
  const addr = (await s3rver.run()) as AddressInfo;
  const direct = s3ClientFor(`http://127.0.0.1:${addr.port}`);
  await direct.send(new CreateBucketCommand({ Bucket: bucket }));

  /** The stored object's ETag, or undefined when absent. */
  const etagOf = async (path: string): Promise<string | undefined> => {
    const [, b, ...rest] = path.split('/');
    try {
      const head = await direct.send(
        new HeadObjectCommand({ Bucket: decodeURIComponent(b!), Key: decodeURIComponent(rest.join('/')) }),
      );
      return head.ETag;
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404)
        return undefined;
      throw err;
    }
  };

  const locks = new Map<string, Promise<void>>();
  let denyMissing = false;
  let denied: RegExp | undefined;
  let failed412 = 0;
  const proxy = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://s3');
    const path = url.pathname;
    const isObject = path.split('/').filter(Boolean).length >= 2;
    const ifNoneMatch = req.headers['if-none-match'];
    const ifMatch = req.headers['if-match'];
    const conditionalPut =
      req.method === 'PUT' && isObject && !url.searchParams.has('uploadId') && (ifNoneMatch || ifMatch);
    void (async () => {
      const read = (req.method === 'GET' || req.method === 'HEAD') && isObject;
      if (read && denied?.test(decodeURIComponent(path.split('/').slice(2).join('/')))) {
        return reply(res, 403, 'AccessDenied', 'Access Denied');
      }
      if (read && denyMissing) {
        if ((await etagOf(path)) === undefined) return reply(res, 403, 'AccessDenied', 'Access Denied');
      }
      if (!conditionalPut) return forward(req, res, addr.port);
      // One conditional write per key at a time: check and write are atomic, as on S3.
      const before = locks.get(path) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      locks.set(
        path,
        before.then(() => mine),
      );
      await before;
      try {
        const current = await etagOf(path);
        if (ifMatch && current === undefined) {
          req.resume();
          return reply(res, 404, 'NoSuchKey', 'The specified key does not exist.');
        }
        const holds =
          ifNoneMatch === '*' ? current === undefined : current !== undefined && current === ifMatch;
        if (!holds) {
          failed412++;
          req.resume();
          return reply(
            res,
            412,
            'PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
          );
        }
        await forward(req, res, addr.port);
      } finally {
        release();
        if (locks.get(path) === mine) locks.delete(path);
      }
    })().catch(() => res.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const client = s3ClientFor(endpoint);
  return {
    endpoint,
    bucket,
    client,
    dir,
    async listKeys(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const res = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async getObject(key) {
      const res = await direct.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    },
    async putText(key, text) {
      await direct.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text }));
    },
    denyMissingReads(on) {
      denyMissing = on;
    },
    denyReads(pattern) {
      denied = pattern;
    },
    preconditionFailures: () => failed412,
    async close() {
      client.destroy();
      direct.destroy();
      proxy.closeAllConnections();
      await new Promise<void>((r) => proxy.close(() => r()));
      await s3rver.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
