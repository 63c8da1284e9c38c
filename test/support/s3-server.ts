import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';

/**
 * An S3-compatible server (s3rver) on 127.0.0.1 with a fresh bucket, and an SDK client for it.
 * s3rver stores a streamed PutObject with the SDK's default aws-chunked checksum framing inside the object,
 * so the test client sends checksums only when required (tests only; real S3 needs no such setting).
 */
export interface S3Server {
  endpoint: string;
  bucket: string;
  client: S3Client;
  dir: string;
  listKeys(prefix?: string): Promise<string[]>;
  getObject(key: string): Promise<Buffer>;
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

export async function startS3Server(bucket = 'qexport-test'): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
  const addr = (await s3rver.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${addr.port}`;
  const client = s3ClientFor(endpoint);
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    bucket,
    client,
    dir,
    async listKeys(prefix) {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        // No MaxKeys: s3rver answers 500 when MaxKeys is below the object count (see local-aws.md).
        const res = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of res.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = res.IsTruncated ? res.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    async getObject(key) {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    },
    async close() {
      client.destroy();
      await s3rver.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
