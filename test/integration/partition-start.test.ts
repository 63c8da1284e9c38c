// The deploy-time custom resource behind the Glue tables' dt projection start (shared/app/partition-start.ts),
// driven as CloudFormation drives it: an event, S3 to list (our stand-in, and moto_server where installed), and
// the pre-signed response URL (a local server that records what CloudFormation would receive).
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  handlePartitionStart,
  PHYSICAL_ID,
  type CustomResourceEvent,
} from '../../shared/app/partition-start';
import { MODULES } from '../../shared/config';
import { motoAvailable, startMotoServer } from '../support/moto-server';
import { startS3Server } from '../support/s3-server';

interface Answer {
  Status: string;
  Reason?: string;
  PhysicalResourceId: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  Data?: { StartDate: string };
}

/** CloudFormation's side: records each PUT to the response URL; `failFirst` answers that many with 500. */
async function responseEndpoint() {
  const answers: { body: Answer; contentType: string | undefined }[] = [];
  let failFirst = 0;
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failFirst > 0) {
        failFirst--;
        res.writeHead(500).end();
        return;
      }
      answers.push({
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Answer,
        contentType: req.headers['content-type'],
      });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/cfn-response?X-Amz-Signature=abc`,
    answers,
    failNext(n: number) {
      failFirst = n;
    },
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const BACKENDS: [string, () => Promise<{ client: S3Client; bucket: string; close(): Promise<void> }>][] = [
  [
    's3rver stand-in',
    async () => {
      const s = await startS3Server('qexport-dt');
      return { client: s.client, bucket: s.bucket, close: s.close };
    },
  ],
  [
    'moto_server',
    async () => {
      const m = await startMotoServer();
      await m.createBucket('qexport-dt');
      return { client: m.s3(), bucket: 'qexport-dt', close: m.close };
    },
  ],
];

const TODAY = new Date('2026-11-24T10:00:00Z');

for (const [backend, start] of BACKENDS) {
  describe.skipIf(backend === 'moto_server' && !motoAvailable())(`partition start (${backend})`, () => {
    let s3: { client: S3Client; bucket: string; close(): Promise<void> };
    let cfn: Awaited<ReturnType<typeof responseEndpoint>>;
    let n = 0;
    beforeAll(async () => {
      s3 = await start();
      cfn = await responseEndpoint();
    });
    afterAll(async () => {
      await cfn?.close();
      await s3?.close();
    });

    const put = (key: string) =>
      s3.client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: key, Body: '{}' }));
    const event = (
      props: unknown,
      type: CustomResourceEvent['RequestType'] = 'Create',
    ): CustomResourceEvent => ({
      RequestType: type,
      ResponseURL: cfn.url,
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/QualysExport/abc',
      RequestId: `request-${++n}`,
      LogicalResourceId: 'PartitionStart',
      ...(type === 'Create' ? {} : { PhysicalResourceId: PHYSICAL_ID }),
      ResourceProperties: props,
    });
    const answer = async (e: CustomResourceEvent) => {
      const before = cfn.answers.length;
      await handlePartitionStart(e, { s3: s3.client, fetch, now: () => TODAY });
      expect(cfn.answers.length).toBe(before + 1);
      const a = cfn.answers.at(-1)!;
      expect(a.body).toMatchObject({
        StackId: e.StackId,
        RequestId: e.RequestId,
        LogicalResourceId: 'PartitionStart',
        PhysicalResourceId: PHYSICAL_ID,
      });
      // The pre-signed URL signs no content type: none is sent.
      expect(a.contentType ?? '').toBe('');
      return a.body;
    };
    const props = (prefix: string, tenants?: string[]) => ({
      ServiceToken: 'arn:aws:lambda:us-east-1:123456789012:function:x',
      Bucket: s3.bucket,
      Prefix: prefix,
      Modules: [...MODULES],
      ...(tenants ? { Tenants: tenants } : {}),
    });

    it('no data yet: the projection starts today', async () => {
      expect(await answer(event(props('empty')))).toMatchObject({
        Status: 'SUCCESS',
        Data: { StartDate: '2026-11-24' },
      });
    });

    it('the earliest dt under any table location: module data or catalogue manifests', async () => {
      await put('single/edr-events/dt=2026-03-04/run=r1/part-00000.ndjson.gz');
      await put('single/pci-scans/dt=2026-05-01/run=r2/_manifest.json');
      await put('single/manifests/module=certview-certificates/dt=2026-02-01/r3.json');
      // Not a table location: the checkpoints, a stray key, another prefix.
      await put('single/_state/edr-events.json');
      await put('single/edr-events/notes.txt');
      await put('other/edr-events/dt=2020-01-01/run=r0/part-00000.ndjson.gz');
      expect((await answer(event(props('single')))).Data).toEqual({ StartDate: '2026-02-01' });
      // An update recomputes from what is there now.
      await put('single/mobile-assets/dt=2025-12-31/run=r4/part-00000.ndjson.gz');
      expect((await answer(event(props('single'), 'Update'))).Data).toEqual({ StartDate: '2025-12-31' });
    });

    it("with tenants, each tenant's locations (the single-tenant layout is not a table location then)", async () => {
      await put('multi/edr-events/dt=2024-01-01/run=old/part-00000.ndjson.gz');
      await put('multi/acme/edr-events/dt=2026-06-01/run=r1/part-00000.ndjson.gz');
      await put('multi/beta/manifests/module=pci-scans/dt=2026-04-15/r2.json');
      expect((await answer(event(props('multi', ['acme', 'beta'])))).Data).toEqual({
        StartDate: '2026-04-15',
      });
    });

    it('never later than today, even with a partition dated in the future (a skewed clock)', async () => {
      await put('future/edr-events/dt=2027-01-01/run=r1/part-00000.ndjson.gz');
      expect((await answer(event(props('future')))).Data).toEqual({ StartDate: '2026-11-24' });
    });

    it('many dt= prefixes: the first page holds the earliest', async () => {
      const days = Array.from({ length: 40 }, (_, i) =>
        new Date(Date.UTC(2026, 0, 10 + i)).toISOString().slice(0, 10),
      );
      for (const d of days.reverse()) await put(`paged/edr-events/dt=${d}/run=r/part-00000.ndjson.gz`);
      expect((await answer(event(props('paged')))).Data).toEqual({ StartDate: '2026-01-10' });
    });

    it('delete answers SUCCESS and lists nothing; bad properties and S3 errors answer FAILED with the reason', async () => {
      expect(await answer(event({}, 'Delete'))).toMatchObject({ Status: 'SUCCESS' });
      const bad = await answer(event({ Bucket: s3.bucket, Prefix: 'x', Modules: 'edr-events' }));
      expect(bad).toMatchObject({
        Status: 'FAILED',
        Reason: expect.stringMatching(/Modules must list the modules/),
      });
      const missing = await answer(event({ ...props('x'), Bucket: 'qexport-no-such-bucket' }));
      expect(missing).toMatchObject({ Status: 'FAILED', Reason: expect.stringMatching(/NoSuchBucket/) });
    });

    it('a response PUT that fails is retried', async () => {
      cfn.failNext(2);
      expect(await answer(event(props('empty')))).toMatchObject({ Status: 'SUCCESS' });
    });
  });
}
