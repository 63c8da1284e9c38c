import type { Readable } from 'node:stream';
import type { ObjectStore } from '../../shared/sink/types';

/**
 * Crash-point injection. A run is driven through an object store and a `fetch` wrapped so that one chosen point of
 * it goes wrong:
 * - `write-fail` N: the Nth write (part upload, journal, checkpoint, manifest, catalogue copy, commit, delete)
 *   does not land and throws; the process carries on (a full disk, a refused request).
 * - `write-lost` N: the Nth write lands but the caller is told it failed (the answer was lost on the way back).
 * - `write-die` N: the process dies as the Nth write starts: it never lands, and nothing after it runs.
 * - `request-die` N: the process dies as its Nth API request leaves.
 * "Dies" is a SIGKILL: no finally-block, no error handler, no lease release runs. Every store call and request of
 * the dead run hangs forever from then on, so the abandoned run is frozen where it was (its heartbeat timer can
 * fire, but its writes never land).
 */
export type CrashMode = 'write-fail' | 'write-lost' | 'write-die' | 'request-die';
export const WRITE_MODES: readonly CrashMode[] = ['write-fail', 'write-lost', 'write-die'];

export interface CrashPlan {
  mode: CrashMode;
  /** 1-based: which write (write modes) or request (request-die) goes wrong. */
  at: number;
}

export interface CrashWorld {
  store: ObjectStore;
  fetch: typeof fetch;
  /** Writes and requests seen so far (all of them, in a run without a crash: the points of that run). */
  writes: string[];
  requests: string[];
  /** What went wrong where, once it has ("write 3: putJson qualys/_state/x.json"). */
  hit(): string | undefined;
  /** Resolves when the run dies (write-die, request-die). */
  died: Promise<void>;
}

class InjectedWriteError extends Error {
  constructor(what: string) {
    super(`injected failure of ${what}`);
    this.name = 'InjectedWriteError';
  }
}

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** Wraps `store` and `fetch` for one run under `plan` (undefined: count only). */
export function crashWorld(inner: ObjectStore, innerFetch: typeof fetch, plan?: CrashPlan): CrashWorld {
  const writes: string[] = [];
  const requests: string[] = [];
  let dead = false;
  let hit: string | undefined;
  let die!: () => void;
  const died = new Promise<void>((r) => (die = r));

  /** How the Nth write goes: 'ok', 'fail' (before it lands), 'lost' (after it lands), or 'die'. */
  const nextWrite = (what: string): 'ok' | 'fail' | 'lost' | 'die' => {
    writes.push(what);
    const n = writes.length;
    if (!plan || plan.at !== n || plan.mode === 'request-die') return 'ok';
    hit = `write ${n}: ${what}`;
    if (plan.mode === 'write-die') {
      dead = true;
      die();
      return 'die';
    }
    return plan.mode === 'write-fail' ? 'fail' : 'lost';
  };

  const write = async <T>(what: string, run: () => Promise<T>, drain?: Readable): Promise<T> => {
    if (dead) return never();
    const how = nextWrite(what);
    if (how === 'die') return never();
    if (how === 'fail') {
      // Nothing lands; a stream being uploaded is torn down as a failed upload tears it down.
      drain?.destroy();
      throw new InjectedWriteError(what);
    }
    const out = await run();
    if (how === 'lost') throw new InjectedWriteError(`${what} (it landed; the answer was lost)`);
    return out;
  };
  const read = <T>(run: () => Promise<T>): Promise<T> => (dead ? never() : run());

  const store: ObjectStore = {
    putStream: (key, body, contentType, contentEncoding) =>
      write(`putStream ${key}`, () => inner.putStream(key, body, contentType, contentEncoding), body),
    putJson: (key, value, condition) => write(`putJson ${key}`, () => inner.putJson(key, value, condition)),
    delete: (keys) => write(`delete ${keys.join(', ')}`, () => inner.delete(keys)),
    readJson: (key, opts) => read(() => inner.readJson(key, opts)),
    getJson: (key) => read(() => inner.getJson(key)),
    list: (prefix) => read(() => inner.list(prefix)),
    describe: (key) => inner.describe(key),
  };

  const wrappedFetch: typeof fetch = (input, init) => {
    if (dead) return never();
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    requests.push(`${init?.method ?? 'GET'} ${new URL(url).pathname}`);
    if (plan?.mode === 'request-die' && plan.at === requests.length) {
      hit = `request ${requests.length}: ${requests.at(-1)}`;
      dead = true;
      die();
      return never();
    }
    return innerFetch(input, init);
  };

  return { store, fetch: wrappedFetch, writes, requests, hit: () => hit, died };
}
