import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { QexportError } from '../errors';
import type { ObjectStore } from './types';

export interface S3StoreOptions {
  s3: S3Client;
  bucket: string;
  /** Multipart part size (min 5 MiB). Memory ≈ partSize × queueSize per open part. */
  partSizeBytes?: number;
  queueSize?: number;
}

/** S3 via lib-storage multipart uploads: an object appears only when its upload completes. */
export function createS3Store(opts: S3StoreOptions): ObjectStore {
  const { s3, bucket } = opts;
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
        partSize: opts.partSizeBytes ?? 8 * 1024 * 1024,
        queueSize: opts.queueSize ?? 2,
        leavePartsOnError: false,
      });
      await upload.done();
    },
    async putJson(key, value) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: `${JSON.stringify(value, null, 2)}\n`,
          ContentType: 'application/json',
        }),
      );
    },
    async getJson(key) {
      let text: string;
      try {
        const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        text = (await res.Body?.transformToString('utf-8')) ?? '';
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
        throw err;
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new QexportError('store', `s3://${bucket}/${key} is not valid JSON`);
      }
    },
    describe: (key) => `s3://${bucket}/${key}`,
  };
}
