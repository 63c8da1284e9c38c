import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidJsonError, PreconditionFailedError, QexportError } from '../errors';
import { holderState, thisProcess, type LocalProcess } from '../local-process';
import type { ObjectStore, StoredJson } from './types';

/** A lock older than this was left by a crashed writer and is broken. */
const STALE_LOCK_MS = 30_000;
/** How long a writer waits for another writer's lock before giving up. */
const LOCK_WAIT_MS = 10_000;

const etagOf = (text: string) => `"${createHash('sha256').update(text).digest('hex').slice(0, 32)}"`;
const codeOf = (err: unknown) => (err as { code?: string }).code;

/**
 * A local directory with the S3 key layout. Objects are written to a temporary file beside the target and
 * renamed into place, so a reader never sees a partial object. JSON writes honour the same compare-and-swap
 * conditions as S3 (If-None-Match / If-Match), made atomic across processes by a lock file per key.
 */
export function createDirStore(rootDir: string): ObjectStore {
  const root = resolve(rootDir);
  const pathOf = (key: string): string => {
    const p = resolve(join(root, key));
    if (!p.startsWith(root + sep))
      throw new QexportError('store', `object key '${key}' escapes the output directory`);
    return p;
  };
  // Hidden names (leading dot) are skipped by Athena/Hadoop readers should a crash leave one behind.
  const hidden = (p: string, what: string) => join(dirname(p), `.${basename(p)}.${what}`);
  const tmpOf = (p: string) => hidden(p, `tmp-${randomBytes(4).toString('hex')}`);

  async function withLock<T>(p: string, fn: () => Promise<T>): Promise<T> {
    const lock = hidden(p, 'lock');
    const started = Date.now();
    let askedOs = -Infinity; // whether the holder runs is asked at most once a second (macOS spawns ps)
    for (;;) {
      try {
        // The lock names its holder, so a writer killed while holding it (SIGKILL) does not block the next one.
        const fh = await open(lock, 'wx');
        try {
          await fh.writeFile(JSON.stringify(thisProcess()));
        } finally {
          await fh.close();
        }
        break;
      } catch (err) {
        if (codeOf(err) !== 'EEXIST') throw err;
        const age = await stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        const ask = Date.now() - askedOs > 1000;
        if (ask) askedOs = Date.now();
        if (age > STALE_LOCK_MS || (ask && (await holderGone(lock)))) await rm(lock, { force: true });
        else if (Date.now() - started > LOCK_WAIT_MS)
          throw new QexportError('store', `${p} is locked by another writer (${lock})`);
        else await new Promise((r) => setTimeout(r, 5 + Math.random() * 10));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lock, { force: true });
    }
  }

  /** Whether the lock names a process of this host that no longer runs. */
  async function holderGone(lock: string): Promise<boolean> {
    try {
      const holder = JSON.parse(await readFile(lock, 'utf8')) as LocalProcess;
      return typeof holder?.pid === 'number' && holderState(holder) === 'dead';
    } catch {
      return false; // being written, already removed, or from an older version: its age decides
    }
  }

  async function readText(p: string): Promise<string | undefined> {
    try {
      return await readFile(p, 'utf8');
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return undefined;
      throw err;
    }
  }

  async function readJson(key: string): Promise<StoredJson | undefined> {
    const text = await readText(pathOf(key));
    if (text === undefined) return undefined;
    try {
      return { value: JSON.parse(text) as unknown, etag: etagOf(text) };
    } catch {
      throw new InvalidJsonError(`${pathOf(key)} is not valid JSON`, etagOf(text), text.length);
    }
  }

  async function walk(dir: string, out: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue; // temp files and locks are not objects
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p, out);
      else out.push(relative(root, p).split(sep).join('/'));
    }
  }

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
    async putJson(key, value, condition) {
      const p = pathOf(key);
      const text = `${JSON.stringify(value)}\n`;
      await mkdir(dirname(p), { recursive: true });
      return withLock(p, async () => {
        if (condition) {
          const current = await readText(p);
          const holds =
            condition.ifNoneMatch === '*'
              ? current === undefined
              : current !== undefined && etagOf(current) === condition.ifMatch;
          if (!holds) throw new PreconditionFailedError(`${p} was changed by another writer`);
        }
        const tmp = tmpOf(p);
        try {
          await writeFile(tmp, text);
          await rename(tmp, p);
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
        return { etag: etagOf(text) };
      });
    },
    readJson,
    async getJson(key) {
      return (await readJson(key))?.value;
    },
    async list(prefix) {
      const out: string[] = [];
      const rel = prefix.replace(/\/+$/, '');
      await walk(rel ? pathOf(rel) : root, out);
      return out;
    },
    async delete(keys) {
      for (const key of keys) await rm(pathOf(key), { force: true });
    },
    describe: (key) => pathOf(key),
  };
}
