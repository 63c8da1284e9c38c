import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { QexportError } from '../errors';
import type { ObjectStore } from './types';

/**
 * A local directory with the S3 key layout. Objects are written to a temporary file beside the target and
 * renamed into place, so a reader never sees a partial object.
 */
export function createDirStore(rootDir: string): ObjectStore {
  const root = resolve(rootDir);
  const pathOf = (key: string): string => {
    const p = resolve(join(root, key));
    if (!p.startsWith(root + sep))
      throw new QexportError('store', `object key '${key}' escapes the output directory`);
    return p;
  };
  // Hidden temp names (leading dot) are skipped by Athena/Hadoop readers should a crash leave one behind.
  const tmpOf = (p: string) => join(dirname(p), `.${basename(p)}.tmp-${randomBytes(4).toString('hex')}`);

  return {
    async putStream(key, body: Readable) {
      const p = pathOf(key);
      await mkdir(dirname(p), { recursive: true });
      const tmp = tmpOf(p);
      try {
        await pipeline(body, createWriteStream(tmp));
        await rename(tmp, p);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
    async putJson(key, value) {
      const p = pathOf(key);
      await mkdir(dirname(p), { recursive: true });
      const tmp = tmpOf(p);
      await writeFile(tmp, `${JSON.stringify(value, null, 2)}\n`);
      await rename(tmp, p);
    },
    async getJson(key) {
      let text: string;
      try {
        text = await readFile(pathOf(key), 'utf8');
      } catch (err) {
        if ((err as { code?: string }).code === 'ENOENT') return undefined;
        throw err;
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new QexportError('store', `${pathOf(key)} is not valid JSON`);
      }
    },
    describe: (key) => pathOf(key),
  };
}
