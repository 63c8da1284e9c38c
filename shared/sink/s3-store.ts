import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { InvalidJsonError, PreconditionFailedError } from '../errors';
import { redact } from '../log';
import type { ObjectStore, ReadOptions } from './types';

export interface S3StoreOptions {
  s3: S3Client;
  bucket: string;
  /** Multipart part size (min 5 MiB). Memory ≈ partSize × queueSize per open part. */
  partSizeBytes?: number;
  queueSize?: number;
}

interface S3ErrorLike {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}
const status = (err: unknown) => (err as S3ErrorLike).$metadata?.httpStatusCode;
const named = (err: unknown, ...names: string[]) => names.includes((err as S3ErrorLike).name ?? '');

/** S3 via lib-storage multipart uploads: an object appears only when its upload completes. */
export function createS3Store(opts: S3StoreOptions): ObjectStore {
  const { s3, bucket } = opts;
  const where = (key: string) => `s3://${bucket}/${key}`;

  async function readJson(key: string, o: ReadOptions = {}) {
    let text: string;
    let etag: string;
    try {
      const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      text = (await res.Body?.transformToString('utf-8')) ?? '';
      etag = res.ETag ?? '';
    } catch (err) {
      // A missing key only: a missing bucket (also 404) is a setup problem, never "no state yet".
      if (!named(err, 'NoSuchBucket') && (named(err, 'NoSuchKey', 'NotFound') || status(err) === 404))
        return undefined;
      if (o.absentOn403 && (named(err, 'AccessDenied') || status(err) === 403)) return undefined;
      throw err;
    }
    try {
      return { value: JSON.parse(text) as unknown, etag };
    } catch {
      const start = JSON.stringify(redact(text.slice(0, 80)));
      throw new InvalidJsonError(
        `${where(key)} is not valid JSON (${text.length} characters, starting ${start})`,
        etag,
        text.length,
      );
    }
  }

  return {
    async putStream(key, body: Readable, contentType, contentEncoding) {
      const upload = new Upload({
        client: s3,
        params: {
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ContentEncoding: contentEncoding,
        },
        // The smallest part S3 takes: lib-storage holds up to queueSize parts in flight plus the one it is
        // filling (and a copy of it while it joins the pieces), so this bounds the sink's memory (~20 MiB).
        partSize: opts.partSizeBytes ?? 5 * 1024 * 1024,
        queueSize: opts.queueSize ?? 2,
        leavePartsOnError: false,
      });
      await upload.done();
    },
    async putJson(key, value, condition) {
      try {
        const res = await s3.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: key,
            Body: `${JSON.stringify(value)}\n`,
            ContentType: 'application/json',
            IfMatch: condition?.ifMatch,
            IfNoneMatch: condition?.ifNoneMatch,
          }),
        );
        return { etag: res.ETag ?? '' };
      } catch (err) {
        // 412: the condition did not hold; 409: a concurrent conditional write to the same key won; 404 to an
        // If-Match write: the object it was to replace is gone (deleted by someone else).
        if (
          condition &&
          (named(err, 'PreconditionFailed', 'ConditionalRequestConflict') ||
            status(err) === 412 ||
            status(err) === 409 ||
            (condition.ifMatch !== undefined && (named(err, 'NoSuchKey') || status(err) === 404)))
        ) {
          throw new PreconditionFailedError(`${where(key)} was changed by another writer`);
        }
        throw err;
      }
    },
    readJson,
    async getJson(key) {
      return (await readJson(key))?.value;
    },
    async list(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const res = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      return keys;
    },
    async delete(keys) {
      // One DeleteObject per key: stale parts are few, and it needs no Content-MD5 / batch handling.
      for (const key of keys) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    describe: where,
  };
}
