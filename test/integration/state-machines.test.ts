// The synthesized state machines, executed: each module's ASL (from the CDK template) runs in a local Step
// Functions interpreter with its Invoke task bound to the esbuild-bundled export function, which runs against
// the Qualys simulator, an S3-compatible server and the Secrets Manager / Lambda stand-ins, configured only by
// environment variables. Every state's input and output is measured: Step Functions refuses more than 256 KiB
// (States.DataLimitExceeded) and the interpreter does not, so the test does.
import '../support/with-resolvers';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import aslValidator from 'asl-validator';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { StateMachine } from 'aws-local-stepfunctions';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildStack } from '../../infra/build';
import { BAD_RESULT_ERROR, STATES } from '../../infra/loop';
import { MODULES, type ModuleName } from '../../shared/config';
import { DEFAULT_SAFETY_MS } from '../../shared/export/engine';
import type { Manifest } from '../../shared/export/types';
import { startSimulator, type Simulator } from '../sim';
import { definitionOf, type AslDefinition } from '../infra/asl';
import { bundleFunctions, createSimSecrets, simUrlEnv, standInAwsEnv } from '../support/functions';
import { expectedFor, idCheck, onlyManifestKey, readRunFromS3 } from '../support/harness';
import { startLambdaServer, type LambdaServer } from '../support/lambda-server';
import { startS3Server, type S3Server } from '../support/s3-server';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';

const ROOT = join(import.meta.dirname, '..', '..');
/** Far below Step Functions' 256 KiB: what a state may carry in this design. */
const MAX_STATE_BYTES = 4096;
const COUNT = 300;
/** Each invocation may run this long before the engine keeps its safety margin (several per run). */
const SLICE_MS = 150;
const SIM_PATH: Record<ModuleName, string> = {
  'pci-scans': '/pci/',
  'certview-certificates': '/certview/',
  'edr-events': '/ioc/',
  'mobile-assets': '/sem/',
  'vmdr-detections': '/api/',
  knowledgebase: '/api/',
};

type Handler = (event: unknown, context: { getRemainingTimeInMillis(): number }) => Promise<unknown>;
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
interface Event {
  type: string;
  state?: { name: string; input: Json; output?: Json };
  input?: Json;
  output?: Json;
  Error?: string;
  Cause?: unknown;
}

const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};
let defs: Record<ModuleName, AslDefinition>;
let sim: Simulator;
let s3: S3Server;
let sm: SecretsManagerServer;
let lambda: LambdaServer;
let out: string;
const exporters = {} as Record<ModuleName, Handler>;
const savedEnv = { ...process.env };
/** Every state payload measured in this file: the largest, and where (bundled functions / scripted results). */
const largest = { bundled: { bytes: 0, where: '' }, scripted: { bytes: 0, where: '' } };
const emf: Record<string, unknown>[] = [];

beforeAll(async () => {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  const { stack } = buildStack(app);
  const template = Template.fromStack(stack);
  defs = Object.fromEntries(
    MODULES.map((m) => [
      m,
      definitionOf(
        template,
        stack.getLogicalId(stack.stateMachines[m].node.defaultChild as never),
        () => `arn:aws:lambda:us-east-1:123456789012:function:QualysExport-Export-${m}`,
      ),
    ]),
  ) as Record<ModuleName, AslDefinition>;

  out = await mkdtemp(join(tmpdir(), 'qexport-sfn-'));
  await bundleFunctions(['token-refresh', ...MODULES.map((m) => `export-${m}`)], out);

  sim = await startSimulator({
    seed: 11,
    counts: { pci: COUNT, certview: COUNT, edr: COUNT, mobile: COUNT, vmdr: COUNT, kb: COUNT },
    // The KnowledgeBase truncates like the other XML listings, so its runs need several invocations too.
    dialect: { kbTruncation: 10 },
    // EDR events inside the first run's look-back window (the bundled function runs on the real clock).
    edr: { start: new Date(Date.now() - 2 * 3600_000).toISOString(), stepMs: 1000 },
    // Every page takes at least this long, so a run needs several SLICE_MS invocations on any machine.
    latencyMs: 15,
  });
  s3 = await startS3Server();
  sm = await startSecretsManagerServer();
  // PCI Merchant has its own account (HTTP Basic), in its own secret read only by the PCI exporter.
  await createSimSecrets(sm, sim, {
    credentials: 'creds',
    token: 'token',
    pciCredentials: 'pci-creds',
    vmCredentials: 'vm-creds',
  });
  Object.assign(process.env, {
    ...standInAwsEnv({ s3: s3.endpoint, secretsManager: sm.endpoint }),
    ...simUrlEnv(sim),
    QUALYS_PCI_PAGE_SIZE: '10',
    QUALYS_CERTVIEW_PAGE_SIZE: '10',
    QUALYS_EDR_PAGE_SIZE: '10',
    QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
    QUALYS_VMDR_TRUNCATION_LIMIT: '10',
    QEXPORT_PART_MAX_RECORDS: '50',
    QEXPORT_BUCKET: s3.bucket,
    QEXPORT_VM_CREDENTIALS_SECRET_ID: 'vm-creds',
    QEXPORT_TOKEN_SECRET_ID: 'token',
    QEXPORT_CREDENTIALS_SECRET_ID: 'creds',
    QEXPORT_PCI_CREDENTIALS_SECRET_ID: 'pci-creds',
    QEXPORT_TOKEN_REFRESH_FUNCTION: 'refresh',
    QEXPORT_LOG_LEVEL: 'error',
  });
  const refresh = (await import(pathToFileURL(join(out, 'token-refresh.mjs')).href)) as {
    handler: (e: unknown) => Promise<unknown>;
  };
  lambda = await startLambdaServer({ refresh: (e) => refresh.handler(e) });
  process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint;
  for (const m of MODULES) {
    exporters[m] = (
      (await import(pathToFileURL(join(out, `export-${m}.mjs`)).href)) as { handler: Handler }
    ).handler;
  }
  await captureStdout(() => refresh.handler({ force: true }));
}, 120_000);

afterEach(() => sim?.faults.clear());

afterAll(async () => {
  await Promise.all([sim?.close(), s3?.close(), sm?.close(), lambda?.close()]);
  if (out) await rm(out, { recursive: true, force: true });
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  // The figure the issue asks for, in the test log.
  for (const [k, v] of Object.entries(largest)) {
    console.info(`largest state payload seen (${k}): ${v.bytes} bytes (${v.where})`);
  }
});

/** Runs `fn` while keeping the EMF lines the bundled functions print (and the rest of their stdout) aside. */
async function captureStdout<T>(fn: () => Promise<T>): Promise<T> {
  const [stdout, stderr] = [process.stdout.write, process.stderr.write];
  const keep = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    for (const line of String(chunk).split('\n')) {
      if (line.startsWith('{"_aws"')) emf.push(JSON.parse(line) as Record<string, unknown>);
    }
    const cb = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
    cb?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = keep;
  process.stderr.write = keep;
  try {
    return await fn();
  } finally {
    process.stdout.write = stdout;
    process.stderr.write = stderr;
  }
}

const bytes = (v: unknown) => (v === undefined ? 0 : Buffer.byteLength(JSON.stringify(v)));

interface Execution {
  status: 'SUCCEEDED' | 'FAILED';
  output?: Json;
  error?: string;
  cause?: string;
  events: Event[];
  /** The events each invocation received. */
  invocations: Json[];
  /** The largest state input or output, and where. */
  maxBytes: number;
  maxAt: string;
  /** States entered, in order. */
  path: string[];
}

/**
 * Executes `module`'s synthesized state machine. `invoke` is the Lambda the Invoke task runs: by default the
 * bundled exporter with a `SLICE_MS` time budget; every event and result crosses a JSON round trip as it does
 * through the Lambda service.
 */
async function execute(
  module: ModuleName,
  opts: {
    input?: Json;
    prefix: string;
    name?: string;
    invoke?: (event: Json) => Promise<unknown>;
    sliceMs?: number;
    /** Count this execution in the file's "largest payload seen" (not for deliberately oversized results). */
    record?: boolean;
  },
): Promise<Execution> {
  process.env.QEXPORT_PREFIX = opts.prefix;
  const name = opts.name ?? `exec-${Math.random().toString(36).slice(2, 10)}`;
  const input = opts.input ?? {};
  const invocations: Json[] = [];
  const slice = opts.sliceMs ?? SLICE_MS;
  const invoke =
    opts.invoke ??
    ((event: Json) =>
      exporters[module](event, { getRemainingTimeInMillis: () => DEFAULT_SAFETY_MS + slice }));
  const machine = new StateMachine(defs[module] as never, {
    validationOptions: { checkPaths: true, checkArn: true },
  });
  const run = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: {
        [STATES.invoke]: async (event) => {
          const e = JSON.parse(JSON.stringify(event)) as Json;
          invocations.push(e);
          return JSON.parse(JSON.stringify((await invoke(e)) ?? null)) as never;
        },
      },
      // The Wait state's duration is what the definition computes (asserted from its input); not slept here.
      waitTimeOverrides: { [STATES.wait]: 1 },
    },
    context: {
      Execution: {
        Id: `arn:aws:states:us-east-1:123456789012:execution:QualysExport-${module}:${name}`,
        Name: name,
        Input: input as never,
        StartTime: new Date().toISOString(),
      },
    },
  });
  const events: Event[] = [];
  const collect = (async () => {
    for await (const e of run.eventLogs as AsyncIterable<Event>) events.push(e);
  })();
  let output: Json | undefined;
  let failed = false;
  await captureStdout(async () => {
    try {
      output = (await run.result) as Json;
    } catch {
      failed = true;
    }
    await collect;
  });
  let maxBytes = 0;
  let maxAt = '';
  const measure = (v: unknown, where: string) => {
    const n = bytes(v);
    if (n > maxBytes) [maxBytes, maxAt] = [n, where];
  };
  for (const e of events) {
    if (e.state) {
      measure(e.state.input, `${module} ${e.state.name} input`);
      measure(e.state.output, `${module} ${e.state.name} output`);
    }
    measure(e.input, `${module} execution input`);
    measure(e.output, `${module} execution output`);
  }
  const kind = largest[opts.invoke ? 'scripted' : 'bundled'];
  if (opts.record !== false && maxBytes > kind.bytes) [kind.bytes, kind.where] = [maxBytes, maxAt];
  const end = events.find((e) => e.type === 'ExecutionFailed');
  return {
    status: failed ? 'FAILED' : 'SUCCEEDED',
    output,
    error: end?.Error,
    cause: end?.Cause === undefined ? undefined : String(end.Cause),
    events,
    invocations,
    maxBytes,
    maxAt,
    path: events.filter((e) => e.type === 'StateEntered').map((e) => e.state!.name),
  };
}

async function expectExactlyTheApi(prefix: string, module: ModuleName): Promise<Manifest> {
  const run = await readRunFromS3(s3, await onlyManifestKey(s3, prefix, module));
  expect([...expectedFor(sim, module, run.manifest.range)].length).toBeGreaterThan(0);
  expect(idCheck(sim, module, run)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
  return run.manifest;
}

describe('the synthesized definitions', () => {
  it.each(MODULES)('%s: asl-validator accepts the definition', (module) => {
    const r = aslValidator(defs[module], { checkPaths: true, checkArn: true });
    expect(r.errorsText()).toBe('');
    expect(r.isValid).toBe(true);
  });

  it('asl-validator is live: it rejects a definition with a dangling Next', () => {
    const broken = JSON.parse(JSON.stringify(defs['pci-scans'])) as AslDefinition;
    broken.States[STATES.continue]!.Next = 'NoSuchState';
    expect(aslValidator(broken).isValid).toBe(false);
  });
});

describe('executed with the bundled export functions', () => {
  it.each(MODULES)(
    '%s: a run that needs several invocations reaches Done, with every state far below 256 KiB',
    async (module) => {
      const prefix = `multi`;
      const emfBefore = emf.length;
      const ex = await execute(module, { prefix });
      expect(ex.status, `${ex.error}: ${ex.cause}`).toBe('SUCCEEDED');
      expect(ex.path.at(-1)).toBe(STATES.done);
      expect(ex.invocations.length).toBeGreaterThanOrEqual(2);
      // First {owner}, then {owner, continuation: {runId}}: nothing else ever goes to the function.
      const owner = `arn:aws:states:us-east-1:123456789012:execution:QualysExport-${module}:`;
      expect(Object.keys(ex.invocations[0] as object)).toEqual(['owner']);
      for (const inv of ex.invocations.slice(1)) {
        expect(Object.keys(inv as object).sort()).toEqual(['continuation', 'owner']);
        expect(Object.keys((inv as { continuation: object }).continuation)).toEqual(['runId']);
      }
      for (const inv of ex.invocations) expect((inv as { owner: string }).owner.startsWith(owner)).toBe(true);
      expect(ex.maxBytes, ex.maxAt).toBeLessThan(MAX_STATE_BYTES);
      const manifest = await expectExactlyTheApi(prefix, module);
      expect(manifest.invocations).toBe(ex.invocations.length);
      expect(ex.output).toEqual({
        status: 'done',
        module,
        runId: manifest.runId,
        records: manifest.totals.records,
        parts: manifest.totals.parts,
      });
      // One EMF line per invocation; the last one counts the completed run.
      const lines = emf.slice(emfBefore).filter((l) => l.Module === module);
      expect(lines).toHaveLength(ex.invocations.length);
      expect(lines.map((l) => l.RunsCompleted)).toEqual([...Array(lines.length - 1).fill(0), 1]);
      expect(lines.every((l) => l.RunsBusy === 0 && l.RunsFailed === 0)).toBe(true);
    },
  );

  // 30 days: past Node's timer limit (24.8 days) and any invocation; the Wait state takes it whole.
  it.each([90, 30 * 86_400])(
    'a rate-limit wait of %i s, longer than the invocation has left, goes through the Wait state, then the run completes',
    async (waitSec) => {
      const module: ModuleName = 'mobile-assets';
      const prefix = `ratelimit-${waitSec}`;
      sim.faults.add({ kind: 'rate-limit', path: SIM_PATH[module], after: 3, waitSec });
      const hitsBefore = sim.faults.hits;
      const ex = await execute(module, { prefix, sliceMs: 5_000 });
      expect(sim.faults.hits - hitsBefore).toBe(1);
      expect(ex.status, `${ex.error}: ${ex.cause}`).toBe('SUCCEEDED');
      const waits = ex.events.filter((e) => e.type === 'StateEntered' && e.state!.name === STATES.wait);
      expect(waits).toHaveLength(1);
      // The Wait state gets only what it needs, and waits what Qualys asked for.
      expect(waits[0]!.state!.input).toEqual({ runId: expect.any(String), waitSeconds: waitSec });
      const i = ex.path.indexOf(STATES.wait);
      expect(ex.path.slice(i - 6, i + 3)).toEqual([
        STATES.invoke,
        STATES.route,
        STATES.routeStatus,
        STATES.hasWait,
        STATES.waitPositive,
        STATES.waitParams,
        STATES.wait,
        STATES.continue,
        STATES.invoke,
      ]);
      expect(ex.maxBytes, ex.maxAt).toBeLessThan(MAX_STATE_BYTES);
      await expectExactlyTheApi(prefix, module);
    },
  );

  it('a failed run reaches the Failed state with its error code and reason; a new execution resumes it', async () => {
    const module: ModuleName = 'pci-scans';
    sim.faults.add({ kind: 'status', status: 400, path: SIM_PATH[module], after: 4, times: 1 });
    const ex = await execute(module, { prefix: 'failure', sliceMs: 5_000 });
    expect(ex.status).toBe('FAILED');
    expect(ex.path.at(-1)).toBe(STATES.failed);
    expect(ex.error).toBe('http');
    expect(ex.cause).toMatch(/HTTP 400/);
    expect(ex.maxBytes, ex.maxAt).toBeLessThan(MAX_STATE_BYTES);
    expect(await s3.listKeys('failure/pci-scans/')).not.toContainEqual(
      expect.stringMatching(/_manifest\.json$/),
    );
    // The checkpoint was kept: the next execution finishes the same run, with nothing lost or doubled.
    const again = await execute(module, { prefix: 'failure' });
    expect(again.status, `${again.error}: ${again.cause}`).toBe('SUCCEEDED');
    await expectExactlyTheApi('failure', module);
  });
});

describe('one run per module at a time (the lease in the S3 state file)', () => {
  it('two executions started together: one runs to Done, the other ends AlreadyRunning having written nothing', async () => {
    const module: ModuleName = 'certview-certificates';
    const prefix = 'concurrent';
    const emfBefore = emf.length;
    const first = execute(module, { prefix, name: 'first' });
    // Start the second once the first holds the module (its state file exists).
    for (let i = 0; i < 200 && !(await s3.listKeys(`${prefix}/_state/`)).length; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const second = execute(module, { prefix, name: 'second' });
    const [a, b] = await Promise.all([first, second]);
    // Both succeed as executions: the busy one is no failure (it ends AlreadyRunning, output status busy).
    expect([a.status, b.status], `${a.error} / ${b.error}`).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    const busy = [a, b].filter((x) => x.path.at(-1) === STATES.alreadyRunning);
    const done = [a, b].filter((x) => x.path.at(-1) === STATES.done);
    expect(busy).toHaveLength(1);
    expect(done).toHaveLength(1);
    expect(busy[0]!.output).toEqual({ status: 'busy', module });
    expect(busy[0]!.invocations).toHaveLength(1);
    // Exactly one run: one manifest, every record once.
    await expectExactlyTheApi(prefix, module);
    const lines = emf.slice(emfBefore).filter((l) => l.Module === module);
    expect(lines.filter((l) => l.RunsBusy === 1)).toHaveLength(1);
    expect(lines.filter((l) => l.RunsCompleted === 1)).toHaveLength(1);
  });
});

describe('the largest results the code produces', () => {
  it('EDR with thousands of ids in the overlap window: every state still far below 256 KiB', async () => {
    // A second simulator whose events all fall in the overlap of consecutive windows: the ids the engine keeps
    // for deduplication are the largest thing a cursor carries (issue 11 measured 286 KB for 11,000).
    const big = await startSimulator({
      seed: 12,
      counts: { pci: 0, certview: 0, edr: 3000, mobile: 0 },
      // (Ending 90 s before now: windows end the indexing lag, 60 s, before now.)
      edr: { start: new Date(Date.now() - 9 * 60_000).toISOString(), stepMs: 150 },
    });
    const env = { ...process.env };
    Object.assign(process.env, {
      QUALYS_GATEWAY_URL: big.url,
      QUALYS_PCI_URL: big.url,
      QUALYS_JWKS_URL: big.jwksUrl,
      QUALYS_EDR_PAGE_SIZE: '500',
      QUALYS_EDR_OVERLAP_MINUTES: '30',
    });
    try {
      const first = await execute('edr-events', { prefix: 'overlap', sliceMs: 400 });
      expect(first.status, `${first.error}: ${first.cause}`).toBe('SUCCEEDED');
      expect((first.output as { records: number }).records).toBe(3000);
      // The next window starts 30 minutes before the last one ended: all 3,000 ids are in its overlap.
      const second = await execute('edr-events', { prefix: 'overlap', sliceMs: 400 });
      expect(second.status, `${second.error}: ${second.cause}`).toBe('SUCCEEDED');
      expect((second.output as { records: number }).records).toBe(0);
      for (const ex of [first, second]) expect(ex.maxBytes, ex.maxAt).toBeLessThan(MAX_STATE_BYTES);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in env)) delete process.env[k];
      Object.assign(process.env, env);
      await big.close();
    }
  });
});

describe('the loop itself (Invoke bound to a scripted function)', () => {
  const base = { module: 'edr-events', records: 0, parts: 0 };

  it('busy ends in AlreadyRunning, a success whose output says busy: ExecutionsFailed counts real failures only', async () => {
    const ex = await execute('edr-events', {
      prefix: 'scripted',
      invoke: async () => ({ ...base, status: 'busy', reason: 'lease held by another execution' }),
    });
    expect(ex.status).toBe('SUCCEEDED');
    expect(ex.path.slice(-2)).toEqual([STATES.busyResult, STATES.alreadyRunning]);
    expect(ex.output).toEqual({ status: 'busy', module: 'edr-events' });
    expect(ex.invocations).toHaveLength(1);
  });

  it('a busy result without the fields other statuses need still ends AlreadyRunning (nothing is dereferenced)', async () => {
    const ex = await execute('edr-events', { prefix: 'scripted', invoke: async () => ({ status: 'busy' }) });
    expect(ex.status).toBe('SUCCEEDED');
    expect(ex.path.at(-1)).toBe(STATES.alreadyRunning);
  });

  it.each([
    ['no status', { records: 0, parts: 0 }],
    ['continue without runId', { ...base, status: 'continue' }],
    ['done without runId', { ...base, status: 'done' }],
    ['failed without an error code', { ...base, status: 'failed', runId: 'r1', reason: 'x' }],
    ['an unknown status', { ...base, status: 'paused', runId: 'r1' }],
    ['null', null],
  ])('a result with %s reaches BadResult, not a loop or a success', async (_n, result) => {
    const ex = await execute('edr-events', { prefix: 'scripted', invoke: async () => result });
    expect(ex.status).toBe('FAILED');
    expect(ex.error).toBe(BAD_RESULT_ERROR);
    expect(ex.invocations).toHaveLength(1);
  });

  it('an execution started with a runId passes it (and the owner) to the first invocation only', async () => {
    let n = 0;
    const ex = await execute('edr-events', {
      prefix: 'scripted',
      input: { runId: 'rerun-1' },
      invoke: async () =>
        ++n < 3
          ? { ...base, status: 'continue', runId: 'rerun-1', waitSeconds: 0 }
          : { ...base, status: 'done', runId: 'rerun-1' },
    });
    expect(ex.status).toBe('SUCCEEDED');
    expect(ex.invocations.map((i) => Object.keys(i as object).sort())).toEqual([
      ['owner', 'runId'],
      ['continuation', 'owner'],
      ['continuation', 'owner'],
    ]);
    expect((ex.invocations[0] as { runId: string }).runId).toBe('rerun-1');
  });

  it('an execution started with a backfill window passes it (and the owner) to the first invocation', async () => {
    const window = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' };
    const ex = await execute('edr-events', {
      prefix: 'scripted',
      input: { backfill: window },
      invoke: async () => ({ ...base, status: 'done', runId: 'bf-1' }),
    });
    expect(ex.status).toBe('SUCCEEDED');
    expect(ex.invocations).toEqual([{ owner: expect.stringContaining(':execution:'), backfill: window }]);
  });

  it('the largest result the contract allows keeps every state under 4 KB', async () => {
    // Contract: a result is always below 2 KB. Fill it to that with the longest fields it may carry.
    const big = {
      ...base,
      runId: 'r'.repeat(80),
      records: Number.MAX_SAFE_INTEGER,
      parts: 99_999,
      reason: 'x'.repeat(1_500),
      error: { code: 'incomplete', message: 'y'.repeat(200) },
    };
    let n = 0;
    const ex = await execute('edr-events', {
      prefix: 'scripted',
      invoke: async () =>
        ++n === 1
          ? { ...big, status: 'continue', waitSeconds: 3600 }
          : n < 20
            ? { ...big, status: 'continue', waitSeconds: 0 }
            : { ...big, status: 'failed' },
    });
    expect(bytes({ ...big, status: 'continue', waitSeconds: 3600 })).toBeLessThan(2048);
    expect(ex.invocations).toHaveLength(20);
    expect(ex.error).toBe('incomplete');
    expect(ex.maxBytes, ex.maxAt).toBeLessThan(MAX_STATE_BYTES);
  });

  it('a misbehaving function returning 200 KB: dropped after one step, never carried round the loop', async () => {
    const junk = 'z'.repeat(200_000);
    let n = 0;
    const ex = await execute('edr-events', {
      prefix: 'scripted',
      record: false,
      invoke: async () =>
        ++n < 5
          ? { ...base, status: 'continue', runId: 'r1', waitSeconds: n === 2 ? 5 : 0, cursor: { junk } }
          : { ...base, status: 'done', runId: 'r1', cursor: { junk } },
    });
    expect(ex.status).toBe('SUCCEEDED');
    // The raw result travels from Invoke through the Choice states (which pass data unchanged) into the first
    // Pass state, which keeps only what the next step needs: every other input, and every output of a state
    // that is neither the Task nor a Choice, is small.
    const types = Object.fromEntries(Object.entries(defs['edr-events'].States).map(([k, v]) => [k, v.Type]));
    let checked = 0;
    for (const e of ex.events.filter((e) => e.state)) {
      const s = e.state!;
      const carriesRaw = types[s.name] === 'Task' || types[s.name] === 'Choice';
      if (e.type === 'StateExited' && !carriesRaw) {
        expect(bytes(s.output), `${s.name} output`).toBeLessThan(MAX_STATE_BYTES);
        checked++;
      }
      if (e.type === 'StateEntered' && (s.name === STATES.invoke || s.name === STATES.wait)) {
        expect(bytes(s.input), `${s.name} input`).toBeLessThan(MAX_STATE_BYTES);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
    // ... including what each invocation receives and the execution's output.
    for (const inv of ex.invocations) expect(bytes(inv)).toBeLessThan(300);
    expect(bytes(ex.output)).toBeLessThan(300);
  });
});
