import { readdirSync, rmSync } from 'node:fs';
import { access, constants, mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import type { Env } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { createDirStore, createS3Store } from '../../shared/sink';
import type { ObjectStore } from '../../shared/sink/types';
import { s3SetupProblem } from './errors';
import { parseOut } from './out';

export interface OutputTarget {
  kind: 'dir' | 's3';
  store: ObjectStore;
  /** Prefix from s3://bucket/prefix, when given. */
  prefix?: string;
  /** s3://bucket/prefix, or the absolute directory. */
  where: string;
  /**
   * Reads each key once, so a setup problem (region, credentials, bucket, permissions, endpoint) is reported
   * as a ConfigError naming the fix before anything is written.
   */
  preflight(keys: string[]): Promise<void>;
  /** When an S3 call fails: the setup problem behind it, as one line naming the fix (S3 only). */
  setupProblem(err: unknown, key?: string): string | undefined;
  /**
   * Synchronously removes the temporary files the directory store writes before renaming (`.<name>.tmp-<hex>`):
   * anywhere under each key ending in '/', and beside each other key (its own temporaries only). Returns the
   * paths removed. Synchronous, so nothing else runs when the CLI exits on a signal right after it.
   * S3: nothing to do (an unfinished multipart upload never becomes an object; the lifecycle rule aborts it).
   */
  sweepTempFiles(keys: string[]): string[];
}

/** The directory store's temporary names: a hidden file ending in `.tmp-` and 8 hex digits. */
export const TEMP_FILE = /^\..+\.tmp-[0-9a-f]{8}$/;

/**
 * The AWS SDK for JavaScript v3 reads AWS_REGION but not AWS_DEFAULT_REGION (which the AWS CLI reads);
 * honour both. Variables from the CLI's --dotenv file apply to the SDK too (the real environment wins).
 */
function awsEnvFrom(env: Env): void {
  for (const [k, v] of Object.entries(env)) {
    if (k.startsWith('AWS_') && v !== undefined && process.env[k] === undefined) process.env[k] = v;
  }
  if (!process.env.AWS_REGION && process.env.AWS_DEFAULT_REGION) {
    process.env.AWS_REGION = process.env.AWS_DEFAULT_REGION;
  }
  // The SDK warns on every run that its releases after January 2027 will need Node 22: noise for a CLI that
  // pins its SDK version and supports Node 20 (it breaks the one-line error contract). Opt-out it documents.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

export interface OpenOptions {
  /** The flag that named the location, for messages (default --out). */
  flag?: string;
  /**
   * Only read (state show): a directory must exist already and is never created or written to, so a read-only
   * directory works. Default: the directory is created if needed and must be writable.
   */
  readOnly?: boolean;
}

/**
 * `--out DIR` or `--out s3://bucket/prefix` → an ObjectStore. Anything else is refused naming the flag (see
 * parseOut). Checks a directory is writable up front, or only that it exists and is readable with `readOnly`.
 */
export async function openOutput(
  out: string,
  env: Env = process.env,
  opts: OpenOptions = {},
): Promise<OutputTarget> {
  const flag = opts.flag ?? '--out';
  const location = parseOut(out, flag);
  if (location.kind === 's3') {
    const { bucket, prefix } = location;
    awsEnvFrom(env);
    const endpoint = process.env.AWS_ENDPOINT_URL_S3 || process.env.AWS_ENDPOINT_URL || undefined;
    // Region, credentials and endpoint come from the standard AWS environment.
    const s3 = new S3Client({ forcePathStyle: Boolean(endpoint) });
    const store = createS3Store({ s3, bucket });
    const setupProblem = (err: unknown, key?: string) => s3SetupProblem(err, { bucket, key, endpoint });
    return {
      kind: 's3',
      store,
      prefix: prefix || undefined,
      where: `s3://${bucket}${prefix ? `/${prefix}` : ''}`,
      setupProblem,
      async preflight(keys) {
        for (const key of keys) {
          try {
            // 403 for a missing key is what S3 answers when the identity may not list the prefix; the engine
            // treats it as absent too, and its conditional create settles the truth (or names the problem).
            await store.readJson(key, { absentOn403: true });
          } catch (err) {
            const problem = setupProblem(err, key);
            if (problem) throw new ConfigError(problem);
            throw err;
          }
        }
      },
      sweepTempFiles: () => [],
    };
  }
  const dir = resolve(location.path);
  if (opts.readOnly) {
    let isDir: boolean;
    try {
      isDir = (await stat(dir)).isDirectory();
      await access(dir, constants.R_OK | constants.X_OK);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error';
      throw new ConfigError(
        code === 'ENOENT'
          ? `${flag}: directory '${dir}' does not exist (nothing was exported there; check the path)`
          : `${flag}: directory '${dir}' is not readable (${code})`,
      );
    }
    if (!isDir) throw new ConfigError(`${flag}: '${dir}' is not a directory`);
  } else {
    try {
      await mkdir(dir, { recursive: true });
      await access(dir, constants.W_OK);
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'error';
      throw new ConfigError(`${flag}: directory '${dir}' is not writable (${code})`);
    }
  }
  const store = createDirStore(dir);
  return {
    kind: 'dir',
    store,
    where: dir,
    async preflight(keys) {
      await Promise.all(keys.map((k) => store.getJson(k)));
    },
    setupProblem: () => undefined,
    sweepTempFiles(keys) {
      const removed: string[] = [];
      const walk = (p: string, only?: string) => {
        let entries;
        try {
          entries = readdirSync(p, { withFileTypes: true });
        } catch {
          return; // not created yet, or removed meanwhile
        }
        for (const e of entries) {
          const child = join(p, e.name);
          if (e.isDirectory()) {
            if (only === undefined) walk(child);
          } else if (TEMP_FILE.test(e.name) && (only === undefined || e.name.startsWith(only))) {
            rmSync(child, { force: true });
            removed.push(child);
          }
        }
      };
      for (const k of keys) {
        if (k.endsWith('/')) walk(join(dir, k));
        else walk(dirname(join(dir, k)), `.${basename(k)}.tmp-`);
      }
      return removed;
    },
  };
}
