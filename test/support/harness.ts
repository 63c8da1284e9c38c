import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { createLocalTokenProvider } from '../../shared/auth';
import {
  loadConfig,
  MODULES,
  type AppConfig,
  type Credentials,
  type Env,
  type ModuleName,
} from '../../shared/config';
import { runExport } from '../../shared/export/engine';
import { stateKeyFor } from '../../shared/export/layout';
import type { ExportInvocation, Manifest, RunResult, StateFile } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { createQualysClient } from '../../shared/qualys/client';
import type { QualysClient, TokenProvider } from '../../shared/qualys/types';
import { createDirStore, RUN_FIELD } from '../../shared/sink';
import type { ObjectStore } from '../../shared/sink/types';
import { expectedOptions, startSimulator, type SimOptions, type Simulator } from '../sim';
import { toJson } from '../sim/json';
import type { S3Server } from './s3-server';

export const ALL_MODULES: ModuleName[] = [...MODULES];

/** Config for a simulator, small pages so tests cross page boundaries. */
export function simConfig(sim: Simulator, env: Env = {}): AppConfig {
  return loadConfig({
    QUALYS_GATEWAY_URL: sim.url,
    QUALYS_PCI_URL: sim.url,
    QUALYS_PCI_PAGE_SIZE: '10',
    QUALYS_CERTVIEW_PAGE_SIZE: '10',
    QUALYS_EDR_PAGE_SIZE: '10',
    QUALYS_MOBILE_TRUNCATION_LIMIT: '10',
    QUALYS_API_URL: sim.url,
    QUALYS_VMDR_TRUNCATION_LIMIT: '10',
    // XML listings hand over sub-pages of about 16 KB: checkpoints fall inside responses too.
    QEXPORT_XML_SUBPAGE_KB: '16',
    QUALYS_EDR_OVERLAP_MINUTES: '10',
    QUALYS_EDR_INITIAL_LOOKBACK_HOURS: '24',
    QEXPORT_PREFIX: 'qualys',
    QEXPORT_PART_MAX_RECORDS: '25',
    ...env,
  });
}

/** The simulator's demo credentials for each gateway auth method (IdP methods through its token endpoint). */
export function simCredentials(sim: Simulator, method: Credentials['method']): Credentials {
  const d = sim.defaults;
  switch (method) {
    case 'qualys-oidc':
      return { method, clientId: d.clientId, clientSecret: d.clientSecret };
    case 'qualys-oauth':
      return { method, clientId: d.subscriptionClientId, clientSecret: d.subscriptionClientSecret };
    case 'qualys-basic':
      return { method, username: d.username, password: d.password };
    case 'idp-password':
      return {
        method,
        tokenUrl: sim.tokenUrl,
        clientId: d.clientId,
        username: d.username,
        password: d.password,
      };
    case 'idp-client-credentials':
      return { method, tokenUrl: sim.tokenUrl, clientId: d.clientId, clientSecret: d.clientSecret };
  }
}

export function simTokens(sim: Simulator, config: AppConfig): TokenProvider {
  return createLocalTokenProvider({
    credentials: {
      method: 'qualys-oidc',
      clientId: sim.defaults.clientId,
      clientSecret: sim.defaults.clientSecret,
    },
    endpoints: config.endpoints,
    tokenCheck: config.tokenCheck,
    fetch: globalThis.fetch,
  });
}

/** A client with fast backoff for tests (the real defaults are 500 ms base, 30 s cap). */
export function testClient(
  sim: Simulator,
  config: AppConfig,
  opts: { timeoutMs?: number; deadline?: () => number; tokens?: TokenProvider; fetch?: typeof fetch } = {},
): QualysClient {
  const gatewayTokens = opts.tokens ?? simTokens(sim, config);
  return createQualysClient({
    gatewayUrl: config.endpoints.gatewayUrl,
    pciUrl: config.endpoints.pciUrl,
    apiUrl: config.endpoints.apiUrl,
    fetch: opts.fetch ?? globalThis.fetch,
    auth: {
      gateway: { scheme: 'bearer', tokens: gatewayTokens },
      // PCI Merchant authenticates with its own account over HTTP Basic, as documented.
      pci: { scheme: 'basic', username: sim.defaults.pciUsername, password: sim.defaults.pciPassword },
      // The API server: the Qualys user over Basic (QUALYS_VM_AUTH_METHOD=basic), or the gateway's token.
      api:
        config.vm.authMethod === 'bearer'
          ? { scheme: 'bearer', tokens: gatewayTokens }
          : { scheme: 'basic', username: sim.defaults.username, password: sim.defaults.password },
    },
    timeoutMs: opts.timeoutMs ?? 5_000,
    maxRetries: config.http.maxRetries,
    concurrency: config.http.concurrency,
    limits: { maxResponseBytes: config.http.maxResponseBytes, maxDecodedBytes: config.http.maxDecodedBytes },
    maxWaitMs: config.http.maxWaitSeconds * 1000,
    deadline: opts.deadline,
    backoffBaseMs: 5,
    backoffMaxMs: 50,
  });
}

export async function tempStore(): Promise<{ dir: string; store: ObjectStore }> {
  const dir = await mkdtemp(join(tmpdir(), 'qexport-test-'));
  return { dir, store: createDirStore(dir) };
}

/** What one test runs the engine with: a simulator, its config and a temporary directory store. */
export interface SimRun {
  sim: Simulator;
  config: AppConfig;
  dir: string;
  store: ObjectStore;
}

/**
 * Simulators and temporary stores for a file's tests, all closed and removed by `cleanup()` (call it from
 * afterEach or afterAll).
 */
export function simRuns() {
  let sims: Simulator[] = [];
  let dirs: string[] = [];
  /** simConfig(sim, env) and a temporary store, for a simulator the test started (and closes) itself. */
  async function prepare(sim: Simulator, env: Env = {}): Promise<Omit<SimRun, 'sim'>> {
    const config = simConfig(sim, env);
    const { dir, store } = await tempStore();
    dirs.push(dir);
    return { config, dir, store };
  }
  return {
    prepare,
    /** Starts a simulator with `opts` (closed by cleanup), then prepares its config and store. */
    async start(opts: SimOptions, env: Env = {}): Promise<SimRun> {
      const sim = await startSimulator(opts);
      sims.push(sim);
      return { sim, ...(await prepare(sim, env)) };
    },
    async cleanup(): Promise<void> {
      await Promise.all(sims.map((s) => s.close()));
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
      sims = [];
      dirs = [];
    },
  };
}

/** Runs invocations until the run is done or failed (at most `max`). */
export async function runUntilSettled(
  module: ModuleName,
  config: AppConfig,
  client: QualysClient,
  store: ObjectStore,
  opts: {
    deadlineFor?: (invocation: number) => () => number;
    now?: () => Date;
    max?: number;
    /** Holds the lease across invocations, as a Step Functions execution does. */
    owner?: string;
    runId?: string;
    signal?: AbortSignal;
    /** A backfill window for the first invocation (time-windowed modules). */
    backfill?: { from: string; to: string };
  } = {},
): Promise<{ result: RunResult; invocations: number }> {
  let result: RunResult | undefined;
  for (let i = 0; i < (opts.max ?? 500); i++) {
    result = await runExport({
      module: getModule(module),
      config,
      client,
      store,
      invocation: result?.runId
        ? { owner: opts.owner, continuation: { runId: result.runId } }
        : { owner: opts.owner, runId: opts.runId, ...(opts.backfill ? { backfill: opts.backfill } : {}) },
      signal: opts.signal,
      deadline: opts.deadlineFor?.(i) ?? (() => Date.now() + 3600_000),
      safetyMs: opts.deadlineFor ? 0 : undefined,
      now: opts.now,
    });
    if (result.status !== 'continue') return { result, invocations: i + 1 };
  }
  throw new Error(`run did not settle: ${JSON.stringify(result)}`);
}

/**
 * One invocation of `module` with time for `pages` pages: it pauses (`continue`) with its checkpoint written, holding
 * the lease it took only when `invocation.owner` is given (as a Step Functions execution does).
 */
export function pausedRun(
  module: ModuleName,
  { config, client, store }: { config: AppConfig; client: QualysClient; store: ObjectStore },
  pages: number,
  opts: { invocation?: ExportInvocation; now?: () => Date } = {},
): Promise<RunResult> {
  return runExport({
    module: getModule(module),
    config,
    client,
    store,
    invocation: opts.invocation ?? {},
    deadline: pageBudget(pages),
    safetyMs: 0,
    now: opts.now,
  });
}

/** A deadline that lets `pages` loop iterations through, then reports no time left. */
export function pageBudget(pages: number): () => number {
  let n = 0;
  return () => (n++ < pages ? Number.POSITIVE_INFINITY : 0);
}

/**
 * `deadlineFor` for runUntilSettled: each invocation stops after 1 to `maxPages` pages, drawn from a seeded
 * generator, so "interrupted at random points" is the same sequence on every run of the test.
 */
export function randomPageBudgets(seed: number, maxPages: number): () => () => number {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31), s / 2 ** 31);
  return () => pageBudget(1 + Math.floor(rnd() * maxPages));
}

export interface ReadRun {
  manifest: Manifest;
  records: Record<string, unknown>[];
  /** Each record's line as written, without the run stamp: the text to compare where digits matter. */
  lines: string[];
}

/** Reads a completed run back from a directory store, checking every part against the manifest. */
export async function readRunFromDir(dir: string, manifestKey: string): Promise<ReadRun> {
  const manifest = JSON.parse(await readFile(join(dir, manifestKey), 'utf8')) as Manifest;
  return { manifest, ...(await readPartLines(manifest, (key) => readFile(join(dir, key)))) };
}

/** readRunFromDir's twin for the S3 stand-in. */
export async function readRunFromS3(s3: Pick<S3Server, 'getObject'>, manifestKey: string): Promise<ReadRun> {
  const manifest = JSON.parse((await s3.getObject(manifestKey)).toString('utf8')) as Manifest;
  return { manifest, ...(await readPartLines(manifest, (key) => s3.getObject(key))) };
}

/** The one `_manifest.json` under `<prefix>/<module>/` in the S3 stand-in; fails the test on none or several. */
export async function onlyManifestKey(
  s3: Pick<S3Server, 'listKeys'>,
  prefix: string,
  module: ModuleName,
): Promise<string> {
  const keys = (await s3.listKeys(`${prefix}/${module}/`)).filter((k) => k.endsWith('/_manifest.json'));
  expect(keys, `${prefix}/${module}`).toHaveLength(1);
  return keys[0]!;
}

/** How a run read back compares with what the simulator holds for the run's range: lost, duplicated, extra. */
export function idCheck(sim: Simulator, module: ModuleName, run: ReadRun) {
  return compareIds(
    expectedFor(sim, module, run.manifest.range),
    run.records.map((r) => recordKey(module, r)),
  );
}

export async function readParts(
  manifest: Manifest,
  get: (key: string) => Promise<Buffer>,
): Promise<Record<string, unknown>[]> {
  return (await readPartLines(manifest, get)).records;
}

/**
 * Every record of a run's parts, checked against the manifest (sizes, sha256, line counts, the run stamp): parsed
 * (JSON.parse: integers beyond 2^53 are rounded there) and as the text of each line without the stamp.
 */
export async function readPartLines(
  manifest: Manifest,
  get: (key: string) => Promise<Buffer>,
): Promise<{ records: Record<string, unknown>[]; lines: string[] }> {
  const records: Record<string, unknown>[] = [];
  const bare: string[] = [];
  for (const part of manifest.parts) {
    const body = await get(part.key);
    if (body.length !== part.bytes)
      throw new Error(`${part.key}: ${body.length} bytes stored, manifest says ${part.bytes}`);
    const sha = createHash('sha256').update(body).digest('hex');
    if (sha !== part.sha256) throw new Error(`${part.key}: sha256 ${sha} does not match the manifest`);
    const text = gunzipSync(body).toString('utf8');
    if (Buffer.byteLength(text) !== part.rawBytes) throw new Error(`${part.key}: rawBytes mismatch`);
    if (text && !text.endsWith('\n')) throw new Error(`${part.key}: last line not newline-terminated`);
    const lines = text ? text.slice(0, -1).split('\n') : [];
    if (lines.length !== part.records)
      throw new Error(`${part.key}: ${lines.length} lines, manifest says ${part.records}`);
    const stamp = `{"${RUN_FIELD}":${JSON.stringify(manifest.runId)}`;
    for (const l of lines) {
      // Every line starts with the run stamp; the API's record follows unchanged.
      if (!l.startsWith(stamp))
        throw new Error(
          `${part.key}: a line does not start with the ${RUN_FIELD} stamp of run ${manifest.runId}`,
        );
      const r = JSON.parse(l) as Record<string, unknown>;
      delete r[RUN_FIELD];
      records.push(r);
      const rest = l.slice(stamp.length);
      bare.push(rest === '}' ? '{}' : `{${rest.slice(1)}`);
    }
  }
  if (records.length !== manifest.totals.records)
    throw new Error('manifest totals.records does not match the parts');
  return { records, lines: bare };
}

/**
 * Whether a finished run holds exactly what the simulator serves for its range, every digit and character: the
 * JSON modules line by line against the simulator's own serialisation (in any order: a re-read pass may append),
 * Mobile (XML, read into objects) record by record.
 */
export function expectExactRecords(sim: Simulator, module: ModuleName, run: ReadRun): void {
  const expected = [...expectedRecordsFor(sim, module, run.manifest.range)];
  if (module === 'mobile-assets') {
    expect(run.records).toEqual(expected);
    return;
  }
  expect([...run.lines].sort()).toEqual(expected.map((r) => toJson(r)).sort());
}

export function idOf(module: ModuleName, r: Record<string, unknown>): string {
  return getModule(module).identity.key(r);
}

/**
 * What tells two of the simulator's records apart: the module's identity key where it is unique, and where it is
 * not (EDR: ids may be shared, see its identity) the key with the event's time, which the simulator never repeats
 * for one id.
 */
export function recordKey(module: ModuleName, r: Record<string, unknown>): string {
  const id = idOf(module, r);
  return getModule(module).identity.unique ? id : `${id}@${String(r.dateTime)}`;
}

/** Lost and duplicated ids of `records` against what the simulator holds. */
export function compareIds(
  expected: Iterable<string>,
  got: string[],
): { lost: number; duplicated: number; extra: number } {
  const want = new Set(expected);
  const seen = new Set<string>();
  let duplicated = 0;
  let extra = 0;
  for (const id of got) {
    if (seen.has(id)) duplicated++;
    else if (!want.has(id)) extra++;
    seen.add(id);
  }
  let lost = 0;
  for (const id of want) if (!seen.has(id)) lost++;
  return { lost, duplicated, extra };
}

/** The module's state file (checkpoint, lastError, committed), or undefined. */
export async function readStateFile(
  store: ObjectStore,
  config: AppConfig,
  module: ModuleName,
): Promise<StateFile | undefined> {
  return (await store.getJson(stateKeyFor(config, module))) as StateFile | undefined;
}

/** Every `_manifest.json` under a directory store (a failed run must not have published one). */
export async function manifestKeys(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((e) => e.endsWith('_manifest.json')).map((e) => e.split(sep).join('/'));
}

export { expectedOptions } from '../sim';

/**
 * What the simulator holds for the run described by `range`, as `recordKey`s (EDR: its window on its time field,
 * with its `state`; Mobile: what its detection_updated_since / before list; VMDR and KB: their windows and API
 * version), under the simulator's current dialect.
 */
export function expectedFor(
  sim: Simulator,
  module: ModuleName,
  range: Record<string, unknown> | undefined,
): Iterable<string> {
  if (module !== 'edr-events') return sim.expectedIds(module, expectedOptions(module, range));
  const records = sim.expectedRecords(module, expectedOptions(module, range));
  return (function* () {
    for (const r of records) yield recordKey(module, r);
  })();
}

/** What the simulator holds for the run described by `range`, as plain record ids (for a column of ids). */
export function expectedIdsFor(
  sim: Simulator,
  module: ModuleName,
  range: Record<string, unknown> | undefined,
): Iterable<string> {
  return sim.expectedIds(module, expectedOptions(module, range));
}

/** The simulator's records for the run described by `range` (see expectedFor). */
export function expectedRecordsFor(
  sim: Simulator,
  module: ModuleName,
  range: Record<string, unknown> | undefined,
): Iterable<Record<string, unknown>> {
  return sim.expectedRecords(module, expectedOptions(module, range));
}
