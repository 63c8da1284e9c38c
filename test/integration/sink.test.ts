import { createHash } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../shared/export/types';
import { LEASE_TTL_MS } from '../../shared/export/engine';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PreconditionFailedError } from '../../shared/errors';
import { createDirStore, createS3Store, openPart } from '../../shared/sink';
import { startSimulator, type Simulator } from '../sim';
import { compareIds, idOf, readParts, runUntilSettled, simConfig, testClient } from '../support/harness';
import { s3ClientFor, startS3Server, type S3Server } from '../support/s3-server';

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3.close();
});

describe('S3 store (s3rver)', () => {
  it('streams NDJSON parts whose stored bytes match the reported size and SHA-256', async () => {
    const store = createS3Store({ s3: s3.client, bucket: s3.bucket, partSizeBytes: 5 * 1024 * 1024 });
    const part = openPart(store, 'test/part-00000.ndjson.gz');
    const records = Array.from({ length: 30_000 }, (_, i) => ({
      id: i,
      text: `record ${i} ${'x'.repeat(i % 300)}`,
      nested: { a: [i, null, true] },
    }));
    for (let i = 0; i < records.length; i += 1000) await part.writePage(records.slice(i, i + 1000));
    const info = await part.close();
    const stored = await s3.getObject('test/part-00000.ndjson.gz');
    expect(info.bytes).toBe(stored.length);
    expect(info.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
    const lines = gunzipSync(stored).toString('utf8').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l))).toEqual(records);
    expect(info.rawBytes).toBe(Buffer.byteLength(lines.join('\n')) + 1);
  });

  it('JSON objects round-trip; a missing key reads as undefined', async () => {
    const store = createS3Store({ s3: s3.client, bucket: s3.bucket });
    await store.putJson('test/state.json', { a: 1 });
    expect(await store.getJson('test/state.json')).toEqual({ a: 1 });
    expect(await store.getJson('test/missing.json')).toBeUndefined();
    expect(store.describe('k')).toBe(`s3://${s3.bucket}/k`);
  });

  it.each(['s3', 'dir'] as const)(
    '%s store: conditional writes are compare-and-swap — of racing writers exactly one wins',
    async (kind) => {
      const dir = kind === 'dir' ? await mkdtemp(join(tmpdir(), 'qexport-cas-')) : '';
      // Two independent store instances, as two processes would have.
      const make = () =>
        kind === 's3' ? createS3Store({ s3: s3.client, bucket: s3.bucket }) : createDirStore(dir);
      const [a, b] = [make(), make()];
      const key = `cas-${kind}/state.json`;
      const created = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).putJson(key, { n: i }, { ifNoneMatch: '*' })),
      );
      expect(created.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of created)
        if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
      const read = (await a.readJson(key))!;
      const updated = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).putJson(key, { m: i }, { ifMatch: read.etag })),
      );
      expect(updated.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const winner = updated.findIndex((r) => r.status === 'fulfilled');
      expect((await b.readJson(key))!.value).toEqual({ m: winner });
      // A stale etag never wins; the current one does.
      await expect(a.putJson(key, { x: 1 }, { ifMatch: read.etag })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      const now = (await a.readJson(key))!;
      await a.putJson(key, { x: 2 }, { ifMatch: now.etag });
      expect(await b.getJson(key)).toEqual({ x: 2 });
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  );

  it.each(['s3', 'dir'] as const)('%s store: lists keys under a prefix and deletes them', async (kind) => {
    const dir = kind === 'dir' ? await mkdtemp(join(tmpdir(), 'qexport-ls-')) : '';
    const store = kind === 's3' ? createS3Store({ s3: s3.client, bucket: s3.bucket }) : createDirStore(dir);
    for (const k of ['ls/a/1.json', 'ls/a/b/2.json', 'ls/c.json']) await store.putJson(k, {});
    expect((await store.list('ls/a/')).sort()).toEqual(['ls/a/1.json', 'ls/a/b/2.json']);
    await store.delete(['ls/a/1.json', 'ls/a/missing.json']);
    expect((await store.list('ls/')).sort()).toEqual(['ls/a/b/2.json', 'ls/c.json']);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses records JSON cannot represent instead of writing a broken line', async () => {
    const store = createS3Store({ s3: s3.client, bucket: s3.bucket });
    const part = openPart(store, 'test/bad.ndjson.gz');
    await expect(part.writePage([[1, 2] as unknown as object])).rejects.toThrow(/must be a JSON object/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(part.writePage([{ ok: 1 }, cyclic])).rejects.toThrow(/cannot be written as JSON/);
    // An integer beyond 2^53 (read losslessly as a bigint) is written with every digit.
    await part.writePage([{ ok: 2, big: 2n ** 64n }]);
    await part.close();
    expect(gunzipSync(await s3.getObject('test/bad.ndjson.gz')).toString()).toBe(
      '{"ok":2,"big":18446744073709551616}\n',
    );
  });
});

/** An HTTP proxy in front of s3rver that fails chosen requests: 500s or connections dropped mid-request. */
async function faultyProxy(target: string, decide: (n: number, method: string) => 'pass' | '500' | 'drop') {
  let n = 0;
  const t = new URL(target);
  const server: Server = createServer((req, res) => {
    const verdict = decide(++n, req.method ?? 'GET');
    if (verdict === 'drop') {
      // Read part of the upload, then cut the connection.
      req.once('data', () => req.socket.destroy());
      req.once('end', () => req.socket.destroy());
      return;
    }
    if (verdict === '500') {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end('<Error><Code>InternalError</Code><Message>simulated</Message></Error>');
      });
      return;
    }
    const up = httpRequest(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

describe('S3 failures during an export', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ seed: 4, counts: { pci: 180 } });
  });
  afterAll(async () => {
    await sim.close();
  });

  async function exportThrough(endpoint: string, prefix: string) {
    const config = simConfig(sim, { QEXPORT_PREFIX: prefix, QEXPORT_PART_MAX_RECORDS: '40' });
    const store = createS3Store({ s3: s3ClientFor(endpoint), bucket: s3.bucket });
    // A run after a crash starts once the dead invocation's lease has expired.
    const afterLease = () => new Date(Date.now() + LEASE_TTL_MS + 1000);
    return {
      config,
      store,
      run: () => runUntilSettled('pci-scans', config, testClient(sim, config), store, { now: afterLease }),
    };
  }

  async function verify(manifestKey: string) {
    const manifest = JSON.parse((await s3.getObject(manifestKey)).toString()) as Manifest;
    const records = await readParts(manifest, (k) => s3.getObject(k));
    return compareIds(
      sim.expectedIds('pci-scans'),
      records.map((r) => idOf('pci-scans', r)),
    );
  }

  it('S3 5xx answers are retried by the SDK and the data is intact', async () => {
    const proxy = await faultyProxy(s3.endpoint, (n) => (n % 4 === 0 ? '500' : 'pass'));
    try {
      const { run } = await exportThrough(proxy.endpoint, 'five-xx');
      const { result } = await run();
      expect(result.status).toBe('done');
      expect(await verify(result.manifestKey!)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    } finally {
      await proxy.close();
    }
  });

  it('connections dropped mid-upload fail the run cleanly; the next invocation completes it exactly', async () => {
    let dropping = false;
    const proxy = await faultyProxy(s3.endpoint, (_n, method) =>
      dropping && method === 'PUT' ? 'drop' : 'pass',
    );
    try {
      const { run, config } = await exportThrough(proxy.endpoint, 'dropped');
      // Let the run start and store a part, then cut every upload.
      const store = createS3Store({ s3: s3ClientFor(proxy.endpoint), bucket: s3.bucket });
      const stateKey = `${config.output.prefix}/_state/pci-scans.json`;
      const origPut = store.putJson.bind(store);
      let stateWrites = 0;
      store.putJson = async (k, v, c) => {
        const written = await origPut(k, v, c);
        if (k === stateKey && ++stateWrites === 2) dropping = true;
        return written;
      };
      const client = testClient(sim, config);
      const first = await runUntilSettled('pci-scans', config, client, store).catch((e: unknown) => e);
      dropping = false;
      // Either the run reported failure with its checkpoint, or the checkpoint write itself failed (a crash).
      if (!(first instanceof Error))
        expect((first as { result: { status: string } }).result.status).toBe('failed');
      const { result } = await run();
      expect(result.status).toBe('done');
      expect(await verify(result.manifestKey!)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
      // Only the manifest's parts exist under the run: no torn or stray objects.
      const keys = await s3.listKeys(`dropped/pci-scans/`);
      const manifest = JSON.parse((await s3.getObject(result.manifestKey!)).toString()) as Manifest;
      expect(keys.filter((k) => k.endsWith('.gz')).sort()).toEqual(manifest.parts.map((p) => p.key).sort());
    } finally {
      await proxy.close();
    }
  });
});
