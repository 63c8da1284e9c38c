import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
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
import { motoAvailable, startMotoServer } from '../support/moto-server';
import { s3ClientFor, startS3Server, type S3Server } from '../support/s3-server';

let s3: S3Server;
beforeAll(async () => {
  s3 = await startS3Server();
});
afterAll(async () => {
  await s3.close();
});

/** An S3 endpoint for the store suite: our stand-in (s3rver behind a conditional-write proxy), or moto_server. */
interface S3Backend {
  client: S3Client;
  bucket: string;
  getObject(key: string): Promise<Buffer>;
  close(): Promise<void>;
}

const S3_BACKENDS: [string, () => Promise<S3Backend>][] = [
  [
    's3rver stand-in',
    async () => {
      const server = await startS3Server('qexport-store');
      return {
        client: server.client,
        bucket: server.bucket,
        getObject: server.getObject,
        close: server.close,
      };
    },
  ],
  [
    'moto_server',
    async () => {
      const moto = await startMotoServer();
      await moto.createBucket('qexport-store');
      return {
        // The SDK's default checksums, as the Lambda functions send them.
        client: moto.s3(),
        bucket: 'qexport-store',
        getObject: (key) => moto.getObject('qexport-store', key),
        close: moto.close,
      };
    },
  ],
];

for (const [backend, start] of S3_BACKENDS) {
  describe.skipIf(backend === 'moto_server' && !motoAvailable())(`S3 store (${backend})`, () => {
    let srv: S3Backend;
    beforeAll(async () => {
      srv = await start();
    });
    afterAll(async () => {
      await srv?.close();
    });
    // The directory store is compared once, beside the stand-in.
    const kinds = (backend === 'moto_server' ? ['s3'] : ['s3', 'dir']) as ('s3' | 'dir')[];

    it('streams NDJSON parts whose stored bytes match the reported size and SHA-256', async () => {
      const store = createS3Store({ s3: srv.client, bucket: srv.bucket, partSizeBytes: 5 * 1024 * 1024 });
      const part = openPart(store, 'test/part-00000.ndjson.gz');
      const records = Array.from({ length: 30_000 }, (_, i) => ({
        id: i,
        text: `record ${i} ${'x'.repeat(i % 300)}`,
        nested: { a: [i, null, true] },
      }));
      for (let i = 0; i < records.length; i += 1000) await part.writePage(records.slice(i, i + 1000));
      const info = await part.close();
      const stored = await srv.getObject('test/part-00000.ndjson.gz');
      expect(info.bytes).toBe(stored.length);
      expect(info.sha256).toBe(createHash('sha256').update(stored).digest('hex'));
      const lines = gunzipSync(stored).toString('utf8').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((l) => JSON.parse(l))).toEqual(records);
      expect(info.rawBytes).toBe(Buffer.byteLength(lines.join('\n')) + 1);
    });

    it('JSON objects round-trip; a missing key reads as undefined', async () => {
      const store = createS3Store({ s3: srv.client, bucket: srv.bucket });
      await store.putJson('test/state.json', { a: 1 });
      expect(await store.getJson('test/state.json')).toEqual({ a: 1 });
      expect(await store.getJson('test/missing.json')).toBeUndefined();
      expect(store.describe('k')).toBe(`s3://${srv.bucket}/k`);
    });

    it.each(kinds)(
      '%s store: conditional writes are compare-and-swap — of racing writers exactly one wins',
      async (kind) => {
        const dir = kind === 'dir' ? await mkdtemp(join(tmpdir(), 'qexport-cas-')) : '';
        // Two independent store instances, as two processes would have.
        const make = () =>
          kind === 's3' ? createS3Store({ s3: srv.client, bucket: srv.bucket }) : createDirStore(dir);
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

    it.each(kinds)('%s store: lists keys under a prefix and deletes them', async (kind) => {
      const dir = kind === 'dir' ? await mkdtemp(join(tmpdir(), 'qexport-ls-')) : '';
      const store =
        kind === 's3' ? createS3Store({ s3: srv.client, bucket: srv.bucket }) : createDirStore(dir);
      for (const k of ['ls/a/1.json', 'ls/a/b/2.json', 'ls/c.json']) await store.putJson(k, {});
      expect((await store.list('ls/a/')).sort()).toEqual(['ls/a/1.json', 'ls/a/b/2.json']);
      await store.delete(['ls/a/1.json', 'ls/a/missing.json']);
      expect((await store.list('ls/')).sort()).toEqual(['ls/a/b/2.json', 'ls/c.json']);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('refuses records JSON cannot represent instead of writing a broken line', async () => {
      const store = createS3Store({ s3: srv.client, bucket: srv.bucket });
      const part = openPart(store, 'test/bad.ndjson.gz');
      await expect(part.writePage([[1, 2] as unknown as object])).rejects.toThrow(/must be a JSON object/);
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await expect(part.writePage([{ ok: 1 }, cyclic])).rejects.toThrow(/cannot be written as JSON/);
      // An integer beyond 2^53 (read losslessly as a bigint) is written with every digit.
      await part.writePage([{ ok: 2, big: 2n ** 64n }]);
      await part.close();
      expect(gunzipSync(await srv.getObject('test/bad.ndjson.gz')).toString()).toBe(
        '{"ok":2,"big":18446744073709551616}\n',
      );
    });

    it('a lost conditional write is named the same whatever the cause: key exists, stale ETag, key deleted', async () => {
      const store = createS3Store({ s3: srv.client, bucket: srv.bucket });
      const key = 'cond/state.json';
      const first = await store.putJson(key, { n: 1 }, { ifNoneMatch: '*' });
      // S3 answers 412 PreconditionFailed to the first two and 404 NoSuchKey to the third.
      await expect(store.putJson(key, { n: 2 }, { ifNoneMatch: '*' })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      const second = await store.putJson(key, { n: 3 }, { ifMatch: first.etag });
      await expect(store.putJson(key, { n: 4 }, { ifMatch: first.etag })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      await store.delete([key]);
      await expect(store.putJson(key, { n: 5 }, { ifMatch: second.etag })).rejects.toBeInstanceOf(
        PreconditionFailedError,
      );
      expect(await store.getJson(key)).toBeUndefined();
    });

    it('errors keep their S3 codes: a missing key reads as absent; a missing bucket is NoSuchBucket', async () => {
      const store = createS3Store({ s3: srv.client, bucket: srv.bucket });
      expect(await store.readJson('no/such/key.json')).toBeUndefined();
      const elsewhere = createS3Store({ s3: srv.client, bucket: 'qexport-no-such-bucket' });
      const err = (await elsewhere.readJson('k.json').catch((e: unknown) => e)) as {
        name: string;
        $metadata: { httpStatusCode: number };
      };
      expect([err.name, err.$metadata.httpStatusCode]).toEqual(['NoSuchBucket', 404]);
    });

    it('lib-storage multipart: a 12 MiB object (three 5 MiB parts) arrives whole, and only when complete', async () => {
      const store = createS3Store({ s3: srv.client, bucket: srv.bucket });
      // Incompressible bytes, so the object really has three parts.
      const data = randomBytes(12 * 1024 * 1024);
      const key = 'multipart/part-00000.ndjson.gz';
      let sent = 0;
      const body = new Readable({
        read() {
          if (sent >= data.length) return this.push(null);
          const chunk = data.subarray(sent, sent + 1024 * 1024);
          sent += chunk.length;
          this.push(chunk);
        },
      });
      await store.putStream(key, body, 'application/x-ndjson', 'gzip');
      const stored = await srv.getObject(key);
      expect(stored.length).toBe(data.length);
      expect(createHash('sha256').update(stored).digest('hex')).toBe(
        createHash('sha256').update(data).digest('hex'),
      );
    });

    it('lists more keys than one ListObjectsV2 page (1,000) returns', async () => {
      const store = createS3Store({ s3: srv.client, bucket: srv.bucket });
      const keys = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, '0')}.json`);
      for (let i = 0; i < keys.length; i += 50) {
        await Promise.all(keys.slice(i, i + 50).map((k) => store.putJson(k, {})));
      }
      expect((await store.list('many/')).sort()).toEqual(keys);
    });
  });
}

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
