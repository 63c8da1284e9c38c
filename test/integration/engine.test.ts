import { spawnSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ModuleName } from '../../shared/config';
import { LEASE_GAP_MS, runExport } from '../../shared/export/engine';
import { LeaseHeldError, resetState, showState } from '../../shared/export/admin';
import { LeaseLostError, StateRef } from '../../shared/export/state';
import { catalogManifestKeyFor, stateKeyFor } from '../../shared/export/layout';
import type { Manifest, RunResult, StateFile } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { int, obj } from '../../shared/qualys/shapes';
import type { Cursor, ModuleDef } from '../../shared/modules/types';
import { createDirStore, createS3Store } from '../../shared/sink';
import type { ObjectStore } from '../../shared/sink/types';
import { PreconditionFailedError, ResumeLaterError } from '../../shared/errors';
import { startSimulator, type Simulator } from '../sim';
import {
  compareIds,
  idCheck,
  idOf,
  pageBudget,
  pausedRun,
  readRunFromDir,
  readRunFromS3,
  readStateFile,
  runUntilSettled,
  simConfig,
  tempStore,
  testClient,
} from '../support/harness';
import { motoAvailable, startMotoServer, type MotoServer } from '../support/moto-server';
import { startS3Server, type S3Server } from '../support/s3-server';

const NOW = new Date('2026-03-04T05:06:07.000Z');
const at = (ms: number) => () => new Date(NOW.getTime() + ms);

let sim: Simulator;
let s3: S3Server;
const dirs: string[] = [];
beforeAll(async () => {
  sim = await startSimulator({ seed: 21, counts: { pci: 180, certview: 95, edr: 120, mobile: 75 } });
  s3 = await startS3Server();
});
afterAll(async () => {
  await sim.close();
  await s3.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
afterEach(() => {
  s3.denyMissingReads(false);
  s3.denyReads(undefined);
  sim.faults.clear();
});

let prefixN = 0;
/** Each test gets its own prefix, so state files and runs never meet. */
function s3Setup(extra: Record<string, string> = {}) {
  const config = simConfig(sim, { QEXPORT_PREFIX: `t${++prefixN}`, ...extra });
  return {
    config,
    store: createS3Store({ s3: s3.client, bucket: s3.bucket }),
    client: testClient(sim, config),
  };
}

/** A directory store of the test's own (removed after the file), with the simulator's config and a client. */
async function dirSetup(extra: Record<string, string> = {}) {
  const { dir, store } = await tempStore();
  dirs.push(dir);
  const config = simConfig(sim, extra);
  return { dir, config, store, client: testClient(sim, config) };
}

async function s3Objects(prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const k of await s3.listKeys(prefix)) out.set(k, (await s3.getObject(k)).toString('base64'));
  return out;
}

async function verifyS3(module: ModuleName, manifestKey: string) {
  const run = await readRunFromS3(s3, manifestKey);
  return { manifest: run.manifest, ids: idCheck(sim, module, run) };
}

describe('one run per module at a time (S3 conditional writes)', () => {
  it.each(['pci-scans', 'edr-events'] as ModuleName[])(
    '%s: two concurrent starts — one runs, one backs off, nothing written twice',
    async (module) => {
      const { config, store, client } = s3Setup();
      const start = (owner: string) =>
        runUntilSettled(module, config, client, store, { now: at(0), owner }).then((r) => r.result);
      const [a, b] = await Promise.all([start('exec-A'), start('exec-B')]);
      const statuses = [a.status, b.status].sort();
      expect(statuses).toEqual(['busy', 'done']);
      const done = a.status === 'done' ? a : b;
      const busy = a.status === 'busy' ? a : b;
      expect(busy.reason).toMatch(/is being exported by exec-/);
      expect(busy.records).toBe(0);
      const { ids } = await verifyS3(module, done.manifestKey!);
      expect(ids).toEqual({ lost: 0, duplicated: 0, extra: 0 });
      // Exactly one run's data exists under the module.
      const runs = new Set(
        (await s3.listKeys(`${config.output.prefix}/${module}/`)).map((k) => /run=([^/]+)/.exec(k)![1]),
      );
      expect([...runs]).toEqual([done.runId]);
    },
  );

  it('a busy invocation writes nothing at all', async () => {
    const { config, store, client } = s3Setup();
    // Execution A runs one invocation and pauses (time budget) holding the lease for its next one.
    const first = await pausedRun('pci-scans', { config, client, store }, 2, {
      invocation: { owner: 'exec-A' },
      now: at(0),
    });
    expect(first.status).toBe('continue');
    const before = await s3Objects(`${config.output.prefix}/`);
    const b = await runUntilSettled('pci-scans', config, client, store, { now: at(60_000), owner: 'exec-B' });
    expect(b.result.status).toBe('busy');
    expect(await s3Objects(`${config.output.prefix}/`)).toEqual(before);
    // A continues its own run through the gap.
    const a = await runUntilSettled('pci-scans', config, client, store, {
      now: at(120_000),
      owner: 'exec-A',
    });
    expect(a.result.status).toBe('done');
    expect(a.result.runId).toBe(first.runId);
  });

  it('a lease left by a dead execution expires and the next start resumes its run', async () => {
    const { config, store, client } = s3Setup();
    const first = await pausedRun('certview-certificates', { config, client, store }, 3, {
      invocation: { owner: 'exec-dead' },
      now: at(0),
    });
    expect(first.status).toBe('continue');
    const soon = await runUntilSettled('certview-certificates', config, client, store, {
      now: at(LEASE_GAP_MS - 1000),
      owner: 'exec-new',
    });
    expect(soon.result.status).toBe('busy');
    const later = await runUntilSettled('certview-certificates', config, client, store, {
      now: at(LEASE_GAP_MS + 1000),
      owner: 'exec-new',
    });
    expect(later.result.status).toBe('done');
    expect(later.result.runId).toBe(first.runId);
    expect((await verifyS3('certview-certificates', later.result.manifestKey!)).ids).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
  });

  it('an invocation whose lease was taken over stops at its next write and publishes nothing', async () => {
    const { config, store, client } = s3Setup({ QEXPORT_PART_MAX_RECORDS: '20' });
    const key = stateKeyFor(config, 'pci-scans');
    // Wrap the store: once the first part is checkpointed, another writer rewrites the state (a takeover).
    let checkpoints = 0;
    const racing: ObjectStore = {
      ...store,
      async putJson(k, v, c) {
        const out = await store.putJson(k, v, c);
        if (k === key && ++checkpoints === 2) {
          const current = (await store.readJson(k))!;
          const taken = {
            ...(current.value as StateFile),
            lease: { owner: 'usurper', expiresAt: NOW.toISOString() },
          };
          await store.putJson(k, taken, { ifMatch: current.etag });
        }
        return out;
      },
    };
    const r = await runExport({
      module: getModule('pci-scans'),
      config,
      client,
      store: racing,
      invocation: { owner: 'exec-A' },
      deadline: () => Date.now() + 60_000,
      now: at(0),
    });
    expect(r.status).toBe('failed');
    expect(r.error?.code).toBe('lease-lost');
    const keys = await s3.listKeys(`${config.output.prefix}/`);
    expect(keys.some((k) => k.endsWith('_manifest.json') || k.includes('/manifests/'))).toBe(false);
    // The state is the usurper's, untouched by the loser.
    expect((await readStateFile(store, config, 'pci-scans'))?.lease?.owner).toBe('usurper');
  });

  it('a missing state file answered 403 (no s3:ListBucket) still starts the first run', async () => {
    const { config, store } = s3Setup();
    s3.denyMissingReads(true);
    const { result } = await runUntilSettled('mobile-assets', config, testClient(sim, config), store, {
      now: at(0),
    });
    expect(result.status).toBe('done');
    expect((await verifyS3('mobile-assets', result.manifestKey!)).ids).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
  });

  it('an unreadable state file that exists fails with a permission error naming it, never "busy" or overwritten', async () => {
    const { config, store } = s3Setup();
    const key = stateKeyFor(config, 'pci-scans');
    const client = testClient(sim, config);
    const first = await pausedRun('pci-scans', { config, client, store }, 2, { now: at(0) });
    expect(first.status).toBe('continue');
    const before = (await s3.getObject(key)).toString();
    // S3 refuses reads of the state file although it exists (a KMS key policy, bucket policy or SCP), and the
    // caller may not list (so a missing key would be 403 too): the read looks like "no state" at first.
    s3.denyReads(new RegExp(`^${key}$`));
    s3.denyMissingReads(true);
    const failures = s3.preconditionFailures();
    const err = await runExport({
      module: getModule('pci-scans'),
      config,
      client,
      store,
      invocation: {},
      deadline: () => Date.now() + 60_000,
      now: at(1000),
    }).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    const message = (err as Error).message;
    expect(message).toMatch(
      /^access denied reading the state file s3:\/\/.*\/_state\/pci-scans\.json, which exists/,
    );
    expect(message).toMatch(
      /s3:GetObject .* kms:Decrypt .*bucketKmsKeyArn.*bucket policy, a service control policy/,
    );
    expect(message).not.toMatch(/another writer|being exported by/);
    // The create-only write was refused by S3 (the file exists), and nothing was overwritten.
    expect(s3.preconditionFailures()).toBe(failures + 1);
    s3.denyReads(undefined);
    expect((await s3.getObject(key)).toString()).toBe(before);
  });

  it('a write whose If-Match finds the state file gone (deleted meanwhile) stops as "changed by another writer"', async () => {
    const { config, store } = s3Setup();
    const key = stateKeyFor(config, 'pci-scans');
    const written = await store.putJson(key, { module: 'pci-scans' }, { ifNoneMatch: '*' });
    await store.delete([key]);
    await expect(
      store.putJson(key, { module: 'pci-scans' }, { ifMatch: written.etag }),
    ).rejects.toBeInstanceOf(PreconditionFailedError);
  });
});

describe.skipIf(!motoAvailable())('the state file on moto_server, with IAM enforced', () => {
  // moto evaluates IAM policies once its first requests (the setup below) are done: an exporter identity that
  // may write but not read the state file (as a KMS key policy, bucket policy or SCP would deny it).
  let moto: MotoServer;
  let exporter: S3Client;
  let auditor: S3Client;
  const bucket = 'qexport-iam';
  beforeAll(async () => {
    moto = await startMotoServer({ INITIAL_NO_AUTH_ACTION_COUNT: '7' });
    const setup = spawnSync(
      'python3',
      [
        '-c',
        `
import boto3, json, sys
kw = dict(endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='test', aws_secret_access_key='test')
iam = boto3.client('iam', **kw)
boto3.client('s3', **kw).create_bucket(Bucket='${bucket}')
keys = {}
for user, statements in [
  ('exporter', [{'Effect': 'Allow', 'Action': 's3:*', 'Resource': '*'},
                {'Effect': 'Deny', 'Action': 's3:GetObject', 'Resource': 'arn:aws:s3:::${bucket}/*/_state/*'}]),
  ('auditor', [{'Effect': 'Allow', 'Action': 's3:GetObject', 'Resource': '*'}]),
]:
  iam.create_user(UserName=user)
  k = iam.create_access_key(UserName=user)['AccessKey']
  iam.put_user_policy(UserName=user, PolicyName='p', PolicyDocument=json.dumps({'Version': '2012-10-17', 'Statement': statements}))
  keys[user] = {'accessKeyId': k['AccessKeyId'], 'secretAccessKey': k['SecretAccessKey']}
print(json.dumps(keys))
`,
        moto.endpoint,
      ],
      { encoding: 'utf8' },
    );
    expect(setup.status, setup.stderr).toBe(0);
    const keys = JSON.parse(setup.stdout) as Record<string, { accessKeyId: string; secretAccessKey: string }>;
    exporter = moto.s3(keys.exporter);
    auditor = moto.s3(keys.auditor);
  }, 60_000);
  afterAll(async () => {
    await moto?.close();
  });

  it('a state file it may not read fails naming the key and the permissions, and is not overwritten', async () => {
    // The state file alone (a whole run also lists its run directory, whose signature moto 5.2 rejects while it
    // enforces IAM): the first invocation creates it, as the engine does.
    const store = createS3Store({ s3: exporter, bucket });
    const key = 'iam/_state/pci-scans.json';
    const first = await StateRef.read(store, key, getModule('pci-scans'));
    expect(first.exists).toBe(false);
    first.state.lease = { owner: 'execution-1', expiresAt: new Date(Date.now() + 60_000).toISOString() };
    await first.save();
    const read = async () => {
      const res = await auditor.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return res.Body!.transformToString();
    };
    const before = await read();
    // The next invocation cannot read it: moto answers 403 AccessDenied, as S3 does; it looks absent at first.
    const next = await StateRef.read(store, key, getModule('pci-scans'));
    expect(next.exists).toBe(false);
    next.state.lease = { owner: 'execution-2', expiresAt: new Date(Date.now() + 60_000).toISOString() };
    const err = await next.save().catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(
      /^access denied reading the state file s3:\/\/qexport-iam\/iam\/_state\/pci-scans\.json, which exists: .*kms:Decrypt/,
    );
    expect(err).not.toBeInstanceOf(LeaseLostError);
    expect(await read()).toBe(before);
  });
});

describe('publishing', () => {
  it('a run read again in fewer parts removes the stale parts before its manifest', async () => {
    // A window far enough back to hold the simulator's events (from 2026-01-01).
    const { config, store, client } = s3Setup({
      QEXPORT_PART_MAX_RECORDS: '10',
      QUALYS_EDR_INITIAL_LOOKBACK_HOURS: '2160',
    });
    sim.setDialect({ edrCount: 'disagree' });
    let first: RunResult;
    try {
      // The window cannot be proven complete: the run is to be read again from its start, parts left in place.
      first = await runExport({
        module: getModule('edr-events'),
        config,
        client,
        store,
        invocation: { runId: 'nightly-1' },
        deadline: () => Date.now() + 3600_000,
        now: at(0),
      });
    } finally {
      sim.setDialect({ edrCount: 'present' });
    }
    expect(first.status).toBe('continue');
    const gz = async () =>
      (await s3.listKeys(`${config.output.prefix}/edr-events/`)).filter((k) => k.endsWith('.gz')).sort();
    const before = await gz();
    // The second pass writes bigger parts (the setting changed meanwhile): fewer of them.
    const wide = { ...config, output: { ...config.output, partMaxRecords: 100 } };
    const second = await runUntilSettled('edr-events', wide, client, store, {
      now: at(0),
      runId: 'nightly-1',
    });
    expect(second.result.status, JSON.stringify(second.result.error)).toBe('done');
    const { manifest, ids } = await verifyS3('edr-events', second.result.manifestKey!);
    expect(ids).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    expect(before.length).toBeGreaterThan(manifest.parts.length);
    expect(await gz()).toEqual(manifest.parts.map((p) => p.key).sort());
  });

  it('the manifest is one line of JSON, and its catalogue copy is identical', async () => {
    const { config, store } = s3Setup();
    const { result } = await runUntilSettled('edr-events', config, testClient(sim, config), store, {
      now: at(0),
    });
    expect(result.status).toBe('done');
    const text = (await s3.getObject(result.manifestKey!)).toString();
    expect(text.endsWith('\n')).toBe(true);
    expect(text.trimEnd().includes('\n')).toBe(false);
    const manifest = JSON.parse(text) as Manifest;
    expect(manifest).toMatchObject({ formatVersion: 2, kind: 'incremental', rereads: 0 });
    expect(manifest.completeness.length).toBeGreaterThan(0);
    const copy = await s3.getObject(catalogManifestKeyFor(config, 'edr-events', manifest.dt, manifest.runId));
    expect(copy.toString()).toBe(text);
    expect(result.completeThrough).toBe((manifest.range as { to: string }).to);
  });

  it('a snapshot run reports when the complete data is from', async () => {
    const { config, store } = s3Setup();
    const { result } = await runUntilSettled(
      'certview-certificates',
      config,
      testClient(sim, config),
      store,
      {
        now: at(0),
      },
    );
    expect(result.completeThrough).toBe(NOW.toISOString());
  });
});

describe('the result stays small whatever the run carries', () => {
  /** A module whose cursor carries `ids` ids (like EDR's overlap ids or PCI's scanIds) over `pages` pages. */
  function heavyModule(ids: number, pages: number): ModuleDef {
    const base = getModule('pci-scans');
    return {
      ...base,
      start: () => ({ page: 0 }),
      async *pages(_client, cursor: Cursor) {
        for (let p = (cursor.page as number) + 1; p <= pages; p++) {
          const seen = Array.from({ length: ids }, (_, i) => `event-${p}-${i}-0123456789abcdef`);
          yield { records: [{ scanId: p }], cursor: { page: p, seen }, done: p === pages };
        }
      },
      prove: async () => [{ name: 'test', outcome: 'passed' }],
      state: { cursor: obj({ page: int({ min: 0 }) }), committed: obj({}) },
    };
  }

  it('continue, done, failed and busy results are each under 2 KB with a 200,000-id cursor', async () => {
    const { dir, config, store, client } = await dirSetup({ QEXPORT_PART_MAX_RECORDS: '1' });
    const module = heavyModule(200_000, 3);
    const results: RunResult[] = [];
    const invoke = (owner: string, deadline: () => number, now = at(0)) =>
      runExport({ module, config, client, store, invocation: { owner }, deadline, safetyMs: 0, now });
    results.push(await invoke('A', pageBudget(1)));
    results.push(await invoke('B', pageBudget(1)));
    results.push(await invoke('A', () => Number.POSITIVE_INFINITY));
    const failing: ModuleDef = {
      ...module,
      prove: async () => [{ name: 'never', outcome: 'failed', detail: 'x'.repeat(5000) }],
    };
    results.push(
      await runExport({
        module: { ...failing, start: () => ({ page: 0 }) },
        config: { ...config, output: { ...config.output, prefix: 'failing' } },
        client,
        store: createDirStore(dir),
        invocation: {},
        deadline: () => Number.POSITIVE_INFINITY,
        now: at(0),
      }),
    );
    expect(results.map((r) => r.status)).toEqual(['continue', 'busy', 'done', 'continue']);
    for (const r of results) expect(Buffer.byteLength(JSON.stringify(r))).toBeLessThan(2048);
    expect(JSON.stringify(results)).not.toMatch(/event-/);
  });
});

describe('interruption', () => {
  it('an aborted run stores its open part, releases the lease, and resumes exactly', async () => {
    const { dir, config, store, client } = await dirSetup();
    const ac = new AbortController();
    let pages = 0;
    const stopped = await runExport({
      module: getModule('pci-scans'),
      config,
      client,
      store,
      invocation: { owner: 'cli' },
      deadline: () => Date.now() + 60_000,
      now: at(0),
      signal: ac.signal,
      onProgress: () => {
        if (++pages === 3) ac.abort();
      },
    });
    expect(stopped.status).toBe('continue');
    expect(stopped.reason).toBe('interrupted');
    const { result } = await runUntilSettled('pci-scans', config, client, store, { now: at(1000) });
    expect(result.status).toBe('done');
    const { records } = await readRunFromDir(dir, result.manifestKey!);
    expect(
      compareIds(
        sim.expectedIds('pci-scans'),
        records.map((r) => idOf('pci-scans', r)),
      ),
    ).toEqual({
      lost: 0,
      duplicated: 0,
      extra: 0,
    });
  });
});

describe('operator control of the state', () => {
  it('show explains a run in progress and its lease; reset refuses while the lease is live', async () => {
    const { config, store, client } = await dirSetup();
    const first = await pausedRun('pci-scans', { config, client, store }, 3, {
      invocation: { owner: 'exec-A', runId: 'run-1' },
      now: at(0),
    });
    expect(first.status).toBe('continue');
    const report = await showState(store, config, 'pci-scans', at(1000)());
    const text = report.lines.join('\n');
    expect(text).toMatch(
      /run run-1 in progress since 2026-03-04T05:06:07.000Z: \d+ records in \d+ stored parts/,
    );
    expect(text).toMatch(/lease held by exec-A until/);
    expect(text).not.toMatch(/"seen":\[/); // id lists are summarised, not dumped
    await expect(
      resetState(store, config, 'pci-scans', { scope: 'run', now: at(1000)() }),
    ).rejects.toBeInstanceOf(LeaseHeldError);
    // Once the lease has expired the run can be abandoned: its unpublished parts go with it.
    const lines = await resetState(store, config, 'pci-scans', { scope: 'run', now: at(LEASE_GAP_MS * 2)() });
    expect(lines.join('\n')).toMatch(/abandoned run run-1 .* never published/);
    expect(await store.list(`${config.output.prefix}/pci-scans/`)).toEqual([]);
    const { result } = await runUntilSettled('pci-scans', config, client, store, {
      now: at(LEASE_GAP_MS * 2),
    });
    expect(result.status).toBe('done');
    expect(result.runId).not.toBe('run-1');
  });

  it('reset keeps what was committed unless asked to forget everything', async () => {
    const { config, store, client } = await dirSetup();
    const { result } = await runUntilSettled('edr-events', config, client, store, { now: at(0) });
    expect(result.status).toBe('done');
    await resetState(store, config, 'edr-events', { scope: 'run', now: at(0)() });
    expect((await readStateFile(store, config, 'edr-events'))?.committed?.runId).toBe(result.runId);
    const lines = await resetState(store, config, 'edr-events', { scope: 'all', now: at(0)() });
    expect(lines.join('\n')).toMatch(/starts from the beginning/);
    expect((await readStateFile(store, config, 'edr-events'))?.committed).toBeUndefined();
    expect((await showState(store, config, 'edr-events')).lines.join('\n')).toMatch(/no run in progress/);
  });

  it('a backfill run records its window and leaves the scheduled window alone; snapshots refuse it', async () => {
    const { dir, config, store, client } = await dirSetup();
    const edr = getModule('edr-events');
    const windowed: ModuleDef = {
      ...edr,
      startBackfill: (ctx, w) => ({ ...edr.start(ctx), from: w.from, to: w.to, skip: [], recent: [] }),
    };
    const invoke = (module: ModuleDef, backfill?: { from: string; to: string }) =>
      runExport({
        module,
        config,
        client,
        store,
        invocation: { backfill },
        deadline: () => Date.now() + 60_000,
        now: at(0),
      });
    const scheduled = await invoke(windowed);
    expect(scheduled.status).toBe('done');
    const before = (await readStateFile(store, config, 'edr-events'))!;
    const window = { from: '2025-12-31T00:00:00.000Z', to: '2026-01-01T00:10:00.000Z' };
    const back = await invoke(windowed, window);
    expect(back.status).toBe('done');
    const after = (await readStateFile(store, config, 'edr-events'))!;
    expect(after.committed?.windowEnd).toBe(before.committed?.windowEnd);
    expect(after.committed?.completeThrough).toBe(before.committed?.completeThrough);
    expect(after.committed?.backfills).toEqual([{ ...window, runId: back.runId }]);
    const { manifest } = await readRunFromDir(dir, back.manifestKey!);
    expect(manifest.backfill).toEqual(window);
    expect(manifest.range).toMatchObject(window);
    await expect(invoke(getModule('pci-scans'), window)).rejects.toThrow(/full snapshot/);
  });
});

describe('schema drift', () => {
  it('records with fields the schema does not know are written whole and counted in the manifest', async () => {
    const { dir, config, store, client } = await dirSetup({ QEXPORT_PART_MAX_RECORDS: '30' });
    const pci = getModule('pci-scans');
    // Every 7th scan carries a field Qualys might add tomorrow.
    const drifting: ModuleDef = {
      ...pci,
      async *pages(client, cursor, cfg) {
        for await (const page of pci.pages(client, cursor, cfg)) {
          yield {
            ...page,
            records: page.records.map((r) =>
              (r.scanId as number) % 7 === 0 ? { ...r, riskScore: 42, nested: { x: 1 } } : r,
            ),
          };
        }
      },
    };
    const result = await runExport({
      module: drifting,
      config,
      client,
      store,
      invocation: {},
      deadline: () => Date.now() + 60_000,
      now: at(0),
    });
    expect(result.status).toBe('done');
    const { manifest, records } = await readRunFromDir(dir, result.manifestKey!);
    const expected = records.filter((r) => (r.scanId as number) % 7 === 0).length;
    expect(expected).toBeGreaterThan(0);
    expect(manifest.schemaDrift).toEqual({ records: expected, fields: ['riskScore', 'nested'] });
    expect(result.schemaDriftRecords).toBe(expected);
    expect(records.find((r) => (r.scanId as number) % 7 === 0)).toMatchObject({
      riskScore: 42,
      nested: { x: 1 },
    });
  });
});

describe('a proof that must wait', () => {
  it('a rate-limit wait met while proving pauses the run; the next invocation proves and publishes', async () => {
    const { config, store, client } = await dirSetup();
    const pci = getModule('pci-scans');
    let proofs = 0;
    const waiting: ModuleDef = {
      ...pci,
      prove: async (final, ctx) => {
        if (++proofs === 1) throw new ResumeLaterError('count endpoint: rate limited for 90 s', 90_000);
        return pci.prove(final, ctx);
      },
    };
    const invoke = () =>
      runExport({
        module: waiting,
        config,
        client,
        store,
        invocation: {},
        deadline: () => Date.now() + 60_000,
        now: at(0),
      });
    const first = await invoke();
    expect(first).toMatchObject({ status: 'continue', waitSeconds: 90 });
    const second = await invoke();
    expect(second.status).toBe('done');
    expect(second.runId).toBe(first.runId);
    expect(second.records).toBe(180);
  });
});
