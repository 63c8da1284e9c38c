import { mkdir, access, constants } from 'node:fs/promises';
import { resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { ConfigError } from '../../shared/errors';
import { createDirStore, createS3Store } from '../../shared/sink';
import type { ObjectStore } from '../../shared/sink/types';

export interface OutputTarget {
  store: ObjectStore;
  /** Prefix from s3://bucket/prefix, when given. */
  prefix?: string;
  where: string;
}

/** `--out DIR` or `--out s3://bucket/prefix` → an ObjectStore. Checks a directory is writable up front. */
export async function openOutput(out: string): Promise<OutputTarget> {
  if (out.startsWith('s3://')) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(out);
    if (!m) throw new ConfigError(`--out: '${out}' is not a valid s3://bucket[/prefix] location`);
    const bucket = m[1]!;
    const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
    // Region, credentials and endpoint (AWS_ENDPOINT_URL_S3) come from the standard AWS environment.
    const s3 = new S3Client({ forcePathStyle: Boolean(process.env.AWS_ENDPOINT_URL_S3) });
    return { store: createS3Store({ s3, bucket }), prefix: prefix || undefined, where: out };
  }
  const dir = resolve(out);
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'error';
    throw new ConfigError(`--out: directory '${dir}' is not writable (${code})`);
  }
  return { store: createDirStore(dir), where: dir };
}
