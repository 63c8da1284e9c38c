import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig, ModuleName } from '../../shared/config';
import { runExport } from '../../shared/export/engine';
import { forgetKnownJournals } from '../../shared/export/journal';
import { journalKeyFor, stateKeyFor, withPrefix } from '../../shared/export/layout';
import { StateDamagedError } from '../../shared/export/state-shape';
import type { StateFile } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { createDirStore, createS3Store } from '../../shared/sink';
import type { ObjectStore } from '../../shared/sink/types';
import { startSimulator, type Simulator } from '../sim';
import { qexport, simCliEnv } from '../support/cli';
import { pausedRun, runUntilSettled, simConfig, tempStore, testClient } from '../support/harness';
import { startS3Server, type S3Server } from '../support/s3-server';

/**
 * A damaged state file (or run journal) is refused where it is read, naming the file, the field and the remedy,
 * and nothing is written (issue 19 item 5): never guessed around. One case per kind of damage, on the directory
 * store and the S3 stand-in; then the same as an operator meets it with the CLI.
 */
const NOW = Date.parse('2026-07-08T09:00:00.000Z');
let sim: Simulator;
let s3: S3Server;
const dirs: string[] = [];
beforeAll(async () => {
  sim = await startSimulator({
    seed: 31,
    counts: { pci: 45, certview: 0, edr: 40, mobile: 0 },
    edr: { start: new Date(NOW - 2 * 3600_000).toISOString(), stepMs: 60_000 },
  });
  s3 = await startS3Server();
});
afterAll(async () => {
  await sim?.close();
  await s3?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface DamageCase {
  kind: string;
  module: ModuleName;
  /** What the sound state is before the damage: a run paused with parts stored, or a completed run. */
  from: 'paused' | 'complete';
  /** Damages the state file's text (or the journal, through `store`). */
  damage: (
    text: string,
    ctx: { store: ObjectStore; config: AppConfig; state: Json },
  ) => Promise<string> | string;
  /** The field the refusal names (undefined: the whole file). */
  field?: string;
  says: RegExp;
  /** Refused as a journal (its remedy abandons the run) rather than as a state file. */
  journal?: boolean;
}

const edit = (f: (s: Json) => void) => (text: string) => {
  const s = JSON.parse(text) as Json;
  f(s);
  return JSON.stringify(s);
};

const CASES: DamageCase[] = [
  {
    kind: 'truncated JSON',
    module: 'pci-scans',
    from: 'paused',
    damage: (t) => t.slice(0, Math.floor(t.length / 2)),
    says: /is not JSON \(\d+ characters: truncated/,
  },
  {
    kind: 'not an object',
    module: 'pci-scans',
    from: 'paused',
    damage: () => '[{"module":"pci-scans"}]',
    says: /it is not a JSON object/,
  },
  {
    kind: 'a count of the wrong type',
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.inProgress.records = String(s.inProgress.records))),
    field: 'inProgress.records',
    says: /expected an integer ≥ 0, got a string \(the file has "\d+"\)/,
  },
  {
    kind: 'a negative count',
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.inProgress.stored.bytes = -512)),
    field: 'inProgress.stored.bytes',
    says: /expected an integer ≥ 0, got an integer \(the file has -512\)/,
  },
  {
    kind: 'garbage in a committed field (EDR window end)',
    module: 'edr-events',
    from: 'complete',
    damage: edit((s) => (s.committed.windowEnd = 'last tuesday')),
    field: 'committed.windowEnd',
    says: /expected an ISO 8601 time .*\(the file has "last tuesday"\)/,
  },
  {
    kind: 'a committed time field of the wrong type',
    module: 'edr-events',
    from: 'complete',
    damage: edit((s) => (s.committed.completeThrough = 1_780_000_000)),
    field: 'committed.completeThrough',
    says: /expected an ISO 8601 time .*, got an integer/,
  },
  {
    kind: 'an unknown module',
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.module = 'vmdr-nonsense')),
    field: 'module',
    says: /expected one of pci-scans, .* \(the file has "vmdr-nonsense"\)/,
  },
  {
    kind: "another module's state file",
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.module = 'certview-certificates')),
    field: 'module',
    says: /it is the state of "certview-certificates", not of pci-scans/,
  },
  {
    kind: 'a field the file does not have',
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.checkpoint = { offset: 3 })),
    field: 'checkpoint',
    says: /is not a field a state file has/,
  },
  {
    kind: "a cursor field of the wrong type (the module's declared shape)",
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.inProgress.cursor.offset = 'eleven')),
    field: 'inProgress.cursor.offset',
    says: /expected an integer ≥ 1, got a string \(the file has "eleven"\)/,
  },
  {
    kind: 'a lease expiry that is not a time',
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.lease = { owner: 'exec-1', expiresAt: 'soon' })),
    field: 'lease.expiresAt',
    says: /expected an ISO 8601 time .*\(the file has "soon"\)/,
  },
  {
    kind: 'a journal segment missing',
    module: 'pci-scans',
    from: 'paused',
    damage: async (t, { store, config, state }) => {
      await store.delete([journalKeyFor(config, 'pci-scans', state.inProgress.runId, 0)]);
      return t;
    },
    journal: true,
    says: /journal-00000\.json\) is missing \(the checkpoint counts \d+ segments\)/,
  },
  {
    kind: 'a journal segment damaged',
    module: 'pci-scans',
    from: 'paused',
    damage: async (t, { store, config, state }) => {
      const key = journalKeyFor(config, 'pci-scans', state.inProgress.runId, 0);
      const seg = (await store.getJson(key)) as Json;
      await store.putJson(key, { ...seg, memo: '%%% not base64 %%%' });
      return t;
    },
    field: 'memo',
    journal: true,
    says: /memo: is not base64/,
  },
  {
    kind: 'a checkpoint that counts other parts than its journal holds',
    module: 'pci-scans',
    from: 'paused',
    damage: edit((s) => (s.inProgress.stored.parts += 3)),
    journal: true,
    says: /holds \d+ parts of \d+ records; the checkpoint counts \d+ parts/,
  },
];

type StoreKind = 'dir' | 's3';
let prefixN = 0;

async function place(kind: StoreKind, module: ModuleName) {
  const prefix = `damage${++prefixN}`;
  let store: ObjectStore;
  let readText: (key: string) => Promise<string>;
  let writeText: (key: string, text: string) => Promise<void>;
  if (kind === 'dir') {
    const t = await tempStore();
    dirs.push(t.dir);
    store = t.store;
    readText = (key) => readFile(join(t.dir, key), 'utf8');
    writeText = async (key, text) => {
      await mkdir(dirname(join(t.dir, key)), { recursive: true });
      await writeFile(join(t.dir, key), text);
    };
  } else {
    store = createS3Store({ s3: s3.client, bucket: s3.bucket });
    readText = async (key) => (await s3.getObject(key)).toString('utf8');
    writeText = (key, text) => s3.putText(key, text);
  }
  const config = simConfig(sim, { QEXPORT_PREFIX: prefix, QEXPORT_PART_MAX_RECORDS: '10' });
  const client = testClient(sim, config);
  const at = () => new Date(NOW);
  if (module === 'edr-events') {
    const { result } = await runUntilSettled(module, config, client, store, { now: at });
    expect(result.status).toBe('done');
  } else {
    const r = await pausedRun(module, { config, client, store }, 3, { now: at });
    expect(r.status).toBe('continue');
  }
  return { store, config, client, readText, writeText, at };
}

/** Every object under the prefix with its content: what a refusal must leave exactly as it was. */
async function snapshot(store: ObjectStore, config: AppConfig, read: (k: string) => Promise<string>) {
  const keys = (await store.list(`${withPrefix(config, '')}`)).sort();
  return Promise.all(keys.map(async (k) => [k, await read(k)] as const));
}

describe('a damaged state file is refused, naming the file, the field and the remedy', () => {
  const cells = CASES.flatMap((c) => (['dir', 's3'] as const).map((store) => ({ ...c, store })));
  it.each(cells)('$kind ($store store)', async (c) => {
    const p = await place(c.store, c.module);
    const key = stateKeyFor(p.config, c.module);
    const sound = await p.readText(key);
    const state = JSON.parse(sound) as Json;
    const damaged = await c.damage(sound, { store: p.store, config: p.config, state });
    if (damaged !== sound) await p.writeText(key, damaged);
    const before = await snapshot(p.store, p.config, p.readText);
    forgetKnownJournals(); // the run is resumed by a new process, which reads the journal

    const refused = await runExport({
      module: getModule(c.module),
      config: p.config,
      client: p.client,
      store: p.store,
      invocation: {},
      deadline: () => Date.now() + 60_000,
      now: () => new Date(NOW + 3600_000),
    }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(StateDamagedError);
    const message = (refused as Error).message;
    expect(message).toMatch(c.says);
    if (c.field) expect(message).toContain(`${c.field}: `);
    if (c.journal) {
      expect(message).toContain(`the run cannot be resumed`);
      expect(message).toContain(`qexport state reset ${c.module} --yes`);
    } else {
      expect(message).toContain(p.store.describe(key));
      expect(message).toMatch(/Nothing was read from it or written to it/);
      expect(message).toContain(`qexport state reset ${c.module} --all --yes`);
      expect(message).toMatch(/move .* aside/);
    }
    // Nothing written: every object (the state file included) is as it was, and no request went out for data.
    expect(await snapshot(p.store, p.config, p.readText)).toEqual(before);
  });
});

describe('as an operator meets it (qexport, child processes)', () => {
  it('export refuses a garbage EDR window end (no day re-exported); show explains; reset --all replaces it', async () => {
    const out = join((await tempStore()).dir, 'out');
    dirs.push(dirname(out));
    const env = { ...simCliEnv(sim), QUALYS_EDR_INITIAL_LOOKBACK_HOURS: '24' };
    const first = await qexport(['export', 'edr-events', '--out', out], { env });
    expect(first.code, first.stderr).toBe(0);
    const key = join(out, 'qualys', '_state', 'edr-events.json');
    const state = JSON.parse(await readFile(key, 'utf8')) as StateFile;
    state.committed!.windowEnd = '2026-13-45T99:00:00Z';
    await writeFile(key, JSON.stringify(state));
    const runsBefore = (await createDirStore(out).list('qualys/edr-events/')).length;

    const refused = await qexport(['export', 'edr-events', '--out', out], { env });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(`state file ${key} is damaged: committed.windowEnd:`);
    expect(refused.stderr).toMatch(/expected an ISO 8601 time/);
    expect(refused.stderr).toContain('qexport state reset edr-events --all --yes');
    expect(refused.stderr).not.toMatch(/checkpoint kept|no checkpoint was written/);
    expect((await createDirStore(out).list('qualys/edr-events/')).length).toBe(runsBefore);

    const shown = await qexport(['state', 'show', 'edr-events', '--out', out], { env });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(
      /DAMAGED: state file .* committed\.windowEnd: expected an ISO 8601 time .*"2026-13-45T99:00:00Z"/,
    );
    const json = await qexport(['state', 'show', 'all', '--out', out, '--json'], { env });
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { where: string; damaged?: string }[];
    expect(parsed.find((r) => r.where === key)?.damaged).toMatch(/committed\.windowEnd/);

    const runOnly = await qexport(['state', 'reset', 'edr-events', '--out', out, '--yes'], { env });
    expect(runOnly.code).toBe(2);
    expect(runOnly.stderr).toMatch(/state reset edr-events --all --yes` replaces it/);
    const all = await qexport(['state', 'reset', 'edr-events', '--all', '--out', out, '--yes'], { env });
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout).toMatch(/replaced the damaged state file/);
    const again = await qexport(['export', 'edr-events', '--out', out], { env });
    expect(again.code, again.stderr).toBe(0);
  });
});
