// Two Qualys subscriptions side by side, as one deployment runs them: the stack is synthesized with two tenants,
// each tenant's state machines (from its nested stack's template) run in the local Step Functions interpreter,
// and every function of the template runs as an esbuild bundle in a thread of its own with exactly the
// environment the template gives it (its secrets, prefix, tenant id, platform URLs and exporterEnv) — plus only
// where the AWS stand-ins listen. Tenant A's simulator answers every data call with HTTP 500; tenant B's works.
// Both tenants run all six modules at the same time, against one bucket, one Secrets Manager and one Lambda
// endpoint.
import '../support/with-resolvers';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DuckDBInstance } from '@duckdb/node-api';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/build';
import { STATES } from '../../infra/loop';
import type { QualysExportStack } from '../../infra/stack';
import { pascal } from '../../infra/context';
import type { TenantResources } from '../../infra/tenant';
import { MODULES, type ModuleName } from '../../shared/config';
import { DEFAULT_SAFETY_MS } from '../../shared/export/engine';
import type { Manifest } from '../../shared/export/types';
import { MODULE_SCHEMAS } from '../../shared/schema';
import { duckdbSetup } from '../../shared/schema/duckdb';
import { columnName } from '../../shared/schema/glue';
import { allViews, q } from '../../shared/schema/views';
import { startSimulator, type SimOptions, type Simulator } from '../sim';
import { definitionOf, type AslDefinition } from '../infra/asl';
import { alarmState, cfnString, emfDatapoints, type Datapoint } from '../support/alarms';
import { bundleFunctions, standInAwsEnv } from '../support/functions';
import {
  compareIds,
  expectedFor,
  expectedIdsFor,
  idCheck,
  onlyManifestKey,
  readRunFromS3,
} from '../support/harness';
import { startLambdaServer, type LambdaServer } from '../support/lambda-server';
import { startS3Server, type S3Server } from '../support/s3-server';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';

const ROOT = join(import.meta.dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
/** B's invocations may run this long before keeping their safety margin: its runs take several invocations. */
const SLICE_MS = 150;
/** A's are long enough for its client's retries, so its failure is the server's 500, not the deadline. */
const SLICE_MS_A = 5_000;
const IDS = ['a', 'b'] as const;
type TenantId = (typeof IDS)[number];
/** Each subscription has its own accounts: a function reading the other tenant's secret would be refused. */
const AUTH: Record<TenantId, NonNullable<SimOptions['auth']>> = {
  a: {
    clientId: 'tenant-a-client',
    clientSecret: 'tenant-a-client-secret',
    pciUsername: 'tenant-a-pci',
    pciPassword: 'tenant-a-pci-password',
    username: 'tenant-a-user',
    password: 'tenant-a-password',
  },
  b: {
    clientId: 'tenant-b-client',
    clientSecret: 'tenant-b-client-secret',
    pciUsername: 'tenant-b-pci',
    pciPassword: 'tenant-b-pci-password',
    username: 'tenant-b-user',
    password: 'tenant-b-password',
  },
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** A bundled function running in its own worker thread with its own environment. */
class FunctionThread {
  readonly lines: string[] = [];
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private next = 0;
  private buffered = '';
  readonly ready: Promise<void>;

  constructor(
    readonly name: string,
    bundle: string,
    env: Record<string, string>,
  ) {
    this.worker = new Worker(join(ROOT, 'test', 'support', 'function-worker.mjs'), {
      workerData: { bundle },
      env,
      stdout: true,
      stderr: true,
    });
    this.worker.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.buffered + chunk).split('\n');
      this.buffered = parts.pop()!;
      this.lines.push(...parts);
    });
    this.worker.stderr.resume();
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on(
        'message',
        (m: { ready?: boolean; id?: number; ok?: boolean; result?: unknown; error?: Error }) => {
          if (m.ready) return resolve();
          const p = this.pending.get(m.id!);
          this.pending.delete(m.id!);
          if (m.ok) p?.resolve(m.result);
          else p?.reject(Object.assign(new Error(m.error!.message), { name: m.error!.name }));
        },
      );
    });
  }

  private send(msg: Record<string, unknown>): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id });
    });
  }

  invoke(event: unknown, remainingMs: number): Promise<unknown> {
    return this.send({ event, remainingMs });
  }

  /** Resolves once every line the function printed so far has reached `lines`. */
  async drain(): Promise<void> {
    const marker = `__drained_${this.next}__`;
    await this.send({ drain: marker });
    while (!this.lines.includes(marker)) await new Promise((r) => setTimeout(r, 5));
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

interface Tenant {
  id: TenantId;
  sim: Simulator;
  resources: TenantResources;
  template: Template;
  /** Function name (from the template) → its thread. */
  functions: Record<string, FunctionThread>;
  definitions: Record<ModuleName, AslDefinition>;
  stateMachineIds: Record<ModuleName, string>;
  refreshFunctionName: string;
}

let stack: QualysExportStack;
let s3: S3Server;
let sm: SecretsManagerServer;
let lambda: LambdaServer;
let out: string;
const tenants = {} as Record<TenantId, Tenant>;

type Resource = { Type: string; Properties: Record<string, unknown> };

beforeAll(async () => {
  const edr = { start: new Date(Date.now() - 2 * 3600_000).toISOString(), stepMs: 1000 };
  const sims: Record<TenantId, Simulator> = {
    // Different seeds and sizes: one tenant's records showing up in the other's output would not go unseen.
    a: await startSimulator({
      seed: 31,
      counts: { pci: 40, certview: 40, edr: 40, mobile: 40, vmdr: 40, kb: 40 },
      dialect: { kbTruncation: 10 },
      auth: AUTH.a,
      edr,
      latencyMs: 15,
    }),
    b: await startSimulator({
      seed: 32,
      counts: { pci: 120, certview: 90, edr: 110, mobile: 70, vmdr: 80, kb: 60 },
      dialect: { kbTruncation: 10 },
      auth: AUTH.b,
      edr,
      latencyMs: 15,
    }),
  };
  s3 = await startS3Server();
  sm = await startSecretsManagerServer();

  const pages = {
    QUALYS_PCI_PAGE_SIZE: '10',
    QUALYS_CERTVIEW_PAGE_SIZE: '10',
    QUALYS_EDR_PAGE_SIZE: '10',
    QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
    QUALYS_VMDR_TRUNCATION_LIMIT: '10',
  };
  const app = new App({
    context: {
      ...cdkJson.context,
      'aws:cdk:bundling-stacks': [],
      tenants: [
        {
          id: 'a',
          gatewayUrl: sims.a.url,
          pciUrl: sims.a.url,
          apiUrl: sims.a.url,
          exporterEnv: { ...pages, QUALYS_JWKS_URL: sims.a.jwksUrl, QUALYS_HTTP_MAX_RETRIES: '1' },
        },
        {
          id: 'b',
          gatewayUrl: sims.b.url,
          pciUrl: sims.b.url,
          apiUrl: sims.b.url,
          exporterEnv: { ...pages, QUALYS_JWKS_URL: sims.b.jwksUrl, QUALYS_CONCURRENCY: '1' },
        },
      ],
    },
  });
  stack = buildStack(app).stack;

  out = await mkdtemp(join(tmpdir(), 'qexport-tenants-'));
  await bundleFunctions(['token-refresh', ...MODULES.map((m) => `export-${m}`)], out);

  // One Lambda endpoint for the account: each tenant's exporters reach their own token-refresh by the name
  // their environment gives.
  const byName: Record<string, FunctionThread> = {};
  lambda = await startLambdaServer(
    new Proxy({} as Record<string, (e: unknown) => Promise<unknown>>, {
      get: (_t, name: string) => (byName[name] ? (e: unknown) => byName[name]!.invoke(e, 60_000) : undefined),
    }),
  );
  const aws = {
    ...standInAwsEnv({ s3: s3.endpoint, secretsManager: sm.endpoint, lambda: lambda.endpoint }),
    QEXPORT_LOG_LEVEL: 'error',
  };

  for (const id of IDS) {
    const resources = stack.tenantStacks[id]!.resources;
    const template = Template.fromStack(stack.tenantStacks[id]!);
    const json = template.toJSON() as { Resources: Record<string, Resource> };
    const lid = (c: { node: { defaultChild?: unknown } }) =>
      Stack.of(c as never).getLogicalId(c.node.defaultChild as never);
    // A Ref in the template, as AWS would resolve it here: the bucket parameter, a secret's name, a function's name.
    const ref = (v: unknown): string => {
      if (typeof v === 'string') return v;
      const target = (v as { Ref?: string }).Ref;
      if (target === 'BucketName') return s3.bucket;
      const r = target ? json.Resources[target] : undefined;
      if (r?.Type === 'AWS::SecretsManager::Secret') return r.Properties.Name as string;
      if (r?.Type === 'AWS::Lambda::Function') return r.Properties.FunctionName as string;
      throw new Error(`tenant ${id}: cannot resolve ${JSON.stringify(v)}`);
    };
    // The tenant's secrets, under the names its template gives them, holding its own subscription's accounts.
    const secretValue: Record<string, string> = {
      [lid(resources.credentialsSecret!)]: JSON.stringify({
        method: 'qualys-oidc',
        clientId: AUTH[id]!.clientId,
        clientSecret: AUTH[id]!.clientSecret,
      }),
      [lid(resources.pciCredentialsSecret!)]: JSON.stringify({
        method: 'basic',
        username: AUTH[id]!.pciUsername,
        password: AUTH[id]!.pciPassword,
      }),
      [lid(resources.vmCredentialsSecret!)]: JSON.stringify({
        username: AUTH[id]!.username,
        password: AUTH[id]!.password,
      }),
    };
    for (const [logicalId, r] of Object.entries(json.Resources)) {
      if (r.Type !== 'AWS::SecretsManager::Secret') continue;
      await sm.client.send(
        new CreateSecretCommand({ Name: r.Properties.Name as string, SecretString: secretValue[logicalId] }),
      );
    }
    const functions: Record<string, FunctionThread> = {};
    const entries: [{ node: { defaultChild?: unknown } }, string][] = [
      [resources.tokenRefresh!, 'token-refresh'],
      ...MODULES.map(
        (m) => [resources.exporters[m]!, `export-${m}`] as [{ node: { defaultChild?: unknown } }, string],
      ),
    ];
    for (const [fn, entry] of entries) {
      const props = json.Resources[lid(fn)]!.Properties;
      const vars = (props.Environment as { Variables: Record<string, unknown> }).Variables;
      const env = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, ref(v)]));
      const name = props.FunctionName as string;
      functions[name] = new FunctionThread(name, join(out, `${entry}.mjs`), { ...env, ...aws });
      byName[name] = functions[name]!;
    }
    await Promise.all(Object.values(functions).map((f) => f.ready));
    const stateMachineIds = Object.fromEntries(
      MODULES.map((m) => [m, lid(resources.stateMachines[m]!)]),
    ) as Record<ModuleName, string>;
    // The Invoke task's resource, resolved to the function name it names in this tenant's template.
    const definitions = Object.fromEntries(
      MODULES.map((m) => [
        m,
        definitionOf(template, stateMachineIds[m], (i) => {
          const target = (i as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
          return `arn:aws:lambda:us-east-1:123456789012:function:${json.Resources[target]!.Properties.FunctionName as string}`;
        }),
      ]),
    ) as Record<ModuleName, AslDefinition>;
    tenants[id] = {
      id,
      sim: sims[id],
      resources,
      template,
      functions,
      definitions,
      stateMachineIds,
      refreshFunctionName: json.Resources[lid(resources.tokenRefresh!)]!.Properties.FunctionName as string,
    };
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(Object.values(tenants).flatMap((t) => Object.values(t.functions).map((f) => f.close())));
  await Promise.all([
    ...Object.values(tenants).map((t) => t.sim.close()),
    s3?.close(),
    sm?.close(),
    lambda?.close(),
  ]);
  if (out) await rm(out, { recursive: true, force: true });
});

interface Execution {
  tenant: TenantId;
  module: ModuleName;
  status: 'SUCCEEDED' | 'FAILED';
  output?: Json;
  error?: string;
  cause?: string;
  path: string[];
  /** The function the Invoke task ran, each time. */
  invoked: string[];
}

/** One execution of a tenant's state machine, its Invoke task bound to the function its ARN names. */
async function execute(t: Tenant, module: ModuleName): Promise<Execution> {
  const name = `exec-${Math.random().toString(36).slice(2, 10)}`;
  const invoked: string[] = [];
  const machine = new StateMachine(t.definitions[module] as never, {
    validationOptions: { checkPaths: true, checkArn: true },
  });
  const resource = t.definitions[module].States[STATES.invoke]!.Resource as string;
  const fn = t.functions[resource.split(':').pop()!];
  const remainingMs = DEFAULT_SAFETY_MS + (t.id === 'a' ? SLICE_MS_A : SLICE_MS);
  const run = machine.run({} as never, {
    overrides: {
      taskResourceLocalHandlers: {
        [STATES.invoke]: async (event) => {
          invoked.push(fn?.name ?? resource);
          if (!fn) throw new Error(`no function named by ${resource}`);
          return (await fn.invoke(JSON.parse(JSON.stringify(event)), remainingMs)) as never;
        },
      },
      waitTimeOverrides: { [STATES.wait]: 1 },
    },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:123456789012:execution:QualysExport-${t.id}-${module}:${name}`,
        Name: name,
        Input: {} as never,
        StartTime: new Date().toISOString(),
      },
    },
  });
  const events: { type: string; state?: { name: string }; Error?: string; Cause?: unknown }[] = [];
  const collect = (async () => {
    for await (const e of run.eventLogs as AsyncIterable<(typeof events)[number]>) events.push(e);
  })();
  let output: Json | undefined;
  let failed = false;
  try {
    output = (await run.result) as Json;
  } catch {
    failed = true;
  }
  await collect;
  const end = events.find((e) => e.type === 'ExecutionFailed');
  return {
    tenant: t.id,
    module,
    status: failed ? 'FAILED' : 'SUCCEEDED',
    output,
    error: end?.Error,
    cause: end?.Cause === undefined ? undefined : String(end.Cause),
    path: events.filter((e) => e.type === 'StateEntered').map((e) => e.state!.name),
    invoked,
  };
}

async function manifestOf(prefix: string, module: ModuleName): Promise<Manifest> {
  const key = await onlyManifestKey(s3, prefix, module);
  return JSON.parse((await s3.getObject(key)).toString('utf8')) as Manifest;
}

/** The run of `module` published under `prefix`, what the tenant's simulator holds, and how they compare. */
async function publishedRun(prefix: string, module: ModuleName, sim: Simulator) {
  const run = await readRunFromS3(s3, await onlyManifestKey(s3, prefix, module));
  const want = [...expectedFor(sim, module, run.manifest.range)];
  return { manifest: run.manifest, want, ids: idCheck(sim, module, run) };
}

describe('two tenants side by side, one failing', () => {
  it("tenant A's subscription fails every call; tenant B's exports complete, exactly, under its own prefix", async () => {
    const a = tenants.a;
    const b = tenants.b;
    // Both tenants' scheduled token refresh, first (each with its own credentials secret).
    for (const t of [a, b]) {
      expect(await t.functions[t.refreshFunctionName]!.invoke({ force: true }, 60_000)).toMatchObject({
        refreshed: true,
      });
    }
    a.sim.faults.add({ kind: 'status', status: 500, times: Infinity });
    const hitsBefore = a.sim.faults.hits;
    const bBefore = b.sim.stats().requests;

    // All twelve executions at once.
    const runs = await Promise.all(IDS.flatMap((id) => MODULES.map((m) => execute(tenants[id], m))));
    const of = (id: TenantId) => runs.filter((r) => r.tenant === id);

    // Every invocation went to the tenant's own function for that module.
    for (const r of runs) {
      expect(new Set(r.invoked)).toEqual(new Set([`QualysExport-${r.tenant}-${r.module}`]));
    }

    // A: each module reached its own Failed state with the HTTP error; nothing was published.
    expect(a.sim.faults.hits - hitsBefore).toBeGreaterThanOrEqual(MODULES.length);
    for (const r of of('a')) {
      expect(r.status, `${r.module}: ${r.error} ${r.cause}`).toBe('FAILED');
      expect(r.path.at(-1)).toBe(STATES.failed);
      expect(r.error).toBe('http');
      expect(r.cause).toMatch(/500/);
    }

    // B: each module reached Done, with every record of B's simulator exactly once and nothing of A's.
    expect(b.sim.stats().requests).toBeGreaterThan(bBefore);
    for (const r of of('b')) {
      expect(r.status, `${r.module}: ${r.error} ${r.cause}`).toBe('SUCCEEDED');
      expect(r.path.at(-1)).toBe(STATES.done);
      expect(r.invoked.length, r.module).toBeGreaterThanOrEqual(2);
      const { manifest, want, ids } = await publishedRun('qualys/b', r.module, b.sim);
      for (const p of manifest.parts) expect(p.key.startsWith(`qualys/b/${r.module}/`)).toBe(true);
      expect(want.length).toBeGreaterThan(0);
      expect(ids, r.module).toEqual({ lost: 0, duplicated: 0, extra: 0 });
      expect(r.output).toMatchObject({ status: 'done', module: r.module, records: manifest.totals.records });
    }

    // The bucket: B's data, state and catalogue manifests under qualys/b/; A left only its checkpoints (each with
    // the error) under qualys/a/; nothing anywhere else.
    const keys = await s3.listKeys('');
    const aKeys = keys.filter((k) => k.startsWith('qualys/a/'));
    const bKeys = keys.filter((k) => k.startsWith('qualys/b/'));
    expect(aKeys.length + bKeys.length).toBe(keys.length);
    expect(aKeys.sort()).toEqual(MODULES.map((m) => `qualys/a/_state/${m}.json`).sort());
    for (const m of MODULES) {
      expect(bKeys).toContain(`qualys/b/_state/${m}.json`);
      expect(bKeys.some((k) => k.startsWith(`qualys/b/manifests/module=${m}/`))).toBe(true);
      const state = JSON.parse((await s3.getObject(`qualys/a/_state/${m}.json`)).toString('utf8')) as Record<
        string,
        unknown
      >;
      expect(JSON.stringify(state)).toMatch(/500/);
    }

    // Metrics: every line a function printed carries its own tenant.
    await Promise.all(IDS.flatMap((id) => Object.values(tenants[id].functions).map((f) => f.drain())));
    const points: Record<TenantId, Datapoint[]> = { a: [], b: [] };
    for (const id of IDS) {
      const lines = Object.values(tenants[id].functions).flatMap((f) => f.lines);
      points[id] = emfDatapoints(lines);
      expect(points[id].length).toBeGreaterThan(0);
      for (const p of points[id]) expect(p.dims.Tenant).toBe(id);
    }
    const sum = (id: TenantId, name: string) =>
      points[id].filter((p) => p.name === name && p.dims.Module).reduce((n, p) => n + p.value, 0);
    expect(sum('a', 'RunsFailed')).toBe(MODULES.length);
    expect(sum('a', 'RunsCompleted')).toBe(0);
    expect(sum('b', 'RunsCompleted')).toBe(MODULES.length);
    expect(sum('b', 'RunsFailed')).toBe(0);

    // Alarms: each tenant's alarms (from its template), applied to what its functions reported and to what
    // Step Functions reports for its executions (ExecutionsFailed per state machine).
    const alarming: Record<TenantId, string[]> = { a: [], b: [] };
    for (const id of IDS) {
      const t = tenants[id];
      const sfn: Datapoint[] = of(id)
        .filter((r) => r.status === 'FAILED')
        .map((r) => ({
          namespace: 'AWS/States',
          name: 'ExecutionsFailed',
          dims: { StateMachineArn: `ref:${t.stateMachineIds[r.module]}` },
          value: 1,
        }));
      const alarms = Object.values(t.template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
      expect(alarms.length).toBeGreaterThan(20);
      for (const al of alarms) {
        if (alarmState(al.Properties, [...points[id], ...sfn]) === 'ALARM') {
          alarming[id].push(cfnString(al.Properties.AlarmName));
        }
      }
    }
    // A: for every module, its no-run-completed and executions-failed alarms, and nothing else; B: none.
    expect(alarming.a.sort()).toEqual(
      MODULES.flatMap((m) => [
        `QualysExport-a-${pascal(m)}ExecutionsFailed`,
        `QualysExport-a-${pascal(m)}NoRunCompleted`,
      ]).sort(),
    );
    expect(alarming.b).toEqual([]);
  }, 240_000); // twelve executions at once on a shared 2-core machine

  it("once A's API recovers, A's next executions resume its runs and complete; the tenant views show each tenant's own complete runs", async () => {
    // Relies on the previous test: A's six runs failed with their checkpoints kept, B's completed.
    const a = tenants.a;
    a.sim.faults.clear();
    const runs = await Promise.all(MODULES.map((m) => execute(a, m)));
    for (const r of runs) {
      expect(r.status, `${r.module}: ${r.error} ${r.cause}`).toBe('SUCCEEDED');
      const { ids } = await publishedRun('qualys/a', r.module, a.sim);
      expect(ids, r.module).toEqual({ lost: 0, duplicated: 0, extra: 0 });
    }

    // The bucket, copied as it is, read by a real SQL engine through the tenant-partitioned tables and the
    // complete-runs views the stack deploys (the same SQL, DuckDB dialect).
    const copy = await mkdtemp(join(tmpdir(), 'qexport-tenants-bucket-'));
    const instance = await DuckDBInstance.create(':memory:');
    const conn = await instance.connect();
    try {
      for (const key of await s3.listKeys('')) {
        await mkdir(dirname(join(copy, key)), { recursive: true });
        await writeFile(join(copy, key), await s3.getObject(key));
      }
      await conn.run(`SET TimeZone = 'UTC'`);
      for (const sql of duckdbSetup(join(copy, 'qualys'), MODULES, { tenants: true })) await conn.run(sql);
      const rows = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJson();
      for (const view of allViews({ tenants: true })) {
        const idColumn = q(columnName(MODULE_SCHEMAS[view.module].idField!));
        const got = await rows(`SELECT tenant, CAST(${idColumn} AS VARCHAR) AS id FROM ${q(view.name)}`);
        for (const id of IDS) {
          const t = tenants[id];
          const manifest = await manifestOf(`qualys/${id}`, view.module);
          const want = [...expectedIdsFor(t.sim, view.module, manifest.range)];
          const ids = got.filter((r) => r.tenant === id).map((r) => String(r.id));
          expect(compareIds(want, ids), `${view.name} tenant ${id}`).toEqual({
            lost: 0,
            duplicated: 0,
            extra: 0,
          });
        }
        expect(new Set(got.map((r) => r.tenant))).toEqual(new Set(IDS));
      }
    } finally {
      conn.closeSync();
      instance.closeSync();
      await rm(copy, { recursive: true, force: true });
    }
  }, 240_000); // twelve executions at once on a shared 2-core machine
});
