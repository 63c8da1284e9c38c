/**
 * Runs one fuzz case: an export against the simulator while a seeded mutation rewrites one reply (`once`) or every
 * reply (`always`) of one endpoint, then the oracle: never `done` with a difference from the simulator's records
 * (every digit and character), never a manifest for a run that is not done, never a request to another origin,
 * and the outcome the mutation promises (mutations.ts).
 */
import { createLocalTokenProvider } from '../../shared/auth';
import type { AppConfig } from '../../shared/config';
import { runExport } from '../../shared/export/engine';
import type { RunResult } from '../../shared/export/types';
import { getModule } from '../../shared/modules';
import { createQualysClient } from '../../shared/qualys/client';
import { onlyCounts, startSimulator, type SimDialect, type Simulator } from '../sim';
import { toJson } from '../sim/json';
import { expectedRecordsFor, manifestKeys, readRunFromDir, simConfig, tempStore } from '../support/harness';
import type { startRecorder } from '../support/recorder';
import { FUZZ_ENDPOINTS, type FuzzEndpoint } from './endpoints';
import { mutationsFor, type Expect, type Mutation, type MutationContext } from './mutations';

export interface FuzzCase {
  endpoint: FuzzEndpoint;
  mutation: Mutation;
  scope: 'once' | 'always';
  /** `once`: the mutation goes to the nth reply of the endpoint it applies to (1-based). */
  nth: number;
  seed: number;
}

export interface FuzzOutcome {
  status: RunResult['status'] | 'threw';
  /** Replies the mutation rewrote. */
  applied: number;
  /** What is wrong, when something is. */
  problem?: string;
  /** The run's error, when it ended in one. */
  error?: string;
  /** The endpoint declares this mutation beyond what its proof can see (a documented limit): its reason. */
  blind?: string;
}

/** The bounds every fuzz run is configured with (small, so bombs and padding cost little). */
export const FUZZ_BOUNDS = { maxResponseBytes: 512 * 1024, maxDecodedBytes: 1024 * 1024 };
const NOW = () => new Date('2026-01-02T00:00:00.000Z');
const RECORDS = 23;

/** A small deterministic generator (mulberry32), so a case is the same on every run. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The cases of one seed: every mutation of every endpoint; `always` for content and for what promises `exact`
 * either way, `once` (at a seeded reply) and `always` for the rest.
 */
export function casesFor(seed: number, endpoints = FUZZ_ENDPOINTS): FuzzCase[] {
  const rng = seeded(seed);
  const out: FuzzCase[] = [];
  for (const endpoint of endpoints) {
    const several = endpoint.format !== 'text' && !/count|token|JWKS|first batch|open/.test(endpoint.name);
    for (const mutation of mutationsFor(endpoint)) {
      const nth = several ? 1 + Math.floor(rng() * 2) : 1;
      const onlyAlways =
        mutation.content !== undefined || (mutation.once === 'exact' && mutation.always === 'exact');
      if (!onlyAlways) out.push({ endpoint, mutation, scope: 'once', nth, seed });
      out.push({ endpoint, mutation, scope: 'always', nth, seed });
    }
  }
  return out;
}

/** The promise a case must keep; a token endpoint is asked once per run, so its refusals end the run. */
export function expectationOf(c: FuzzCase): Expect {
  const e = c.scope === 'once' ? c.mutation.once : c.mutation.always;
  if (c.endpoint.format === 'text' || c.endpoint.auth)
    return e === 'exact' && c.mutation.always === 'exact' ? e : 'safe';
  // An EDR continuation is never repeated: a refused one reopens the scroll, which may read on to the end.
  if (c.endpoint.name.includes('continuation') && e === 'fail' && c.mutation.kind !== 'redirect')
    return 'safe';
  return e;
}

export class FuzzRunner {
  private readonly sims = new Map<string, Simulator>();
  constructor(private readonly elsewhere: Awaited<ReturnType<typeof startRecorder>>) {}

  private async simFor(c: FuzzCase, dialect: SimDialect): Promise<Simulator> {
    const key = `${c.endpoint.module} ${JSON.stringify(dialect)}`;
    let sim = this.sims.get(key);
    if (!sim) {
      sim = await startSimulator({ seed: 7, counts: onlyCounts(c.endpoint.module, RECORDS), dialect });
      this.sims.set(key, sim);
    }
    return sim;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sims.values()].map((s) => s.close()));
  }

  async run(c: FuzzCase): Promise<FuzzOutcome> {
    const { endpoint, mutation } = c;
    const sim = await this.simFor(c, mutation.content?.dialect ?? {});
    const env: Record<string, string> = {
      QUALYS_HTTP_MAX_RETRIES: '2',
      QEXPORT_MAX_RESPONSE_BYTES: String(FUZZ_BOUNDS.maxResponseBytes),
      QEXPORT_MAX_DECODED_BYTES: String(FUZZ_BOUNDS.maxDecodedBytes),
      ...(endpoint.auth === 'jwks' ? { QUALYS_JWKS_URL: sim.jwksUrl } : {}),
    };
    const config = simConfig(sim, env);
    const { dir, store } = await tempStore();
    const rng = seeded(c.seed * 7919 + c.nth);
    const ctx: MutationContext = { rng, endpoint, elsewhere: this.elsewhere.url, ...FUZZ_BOUNDS };
    // Content changes go to every reply carrying the module's records (EDR's open and continuation pages alike).
    const targets = mutation.content
      ? FUZZ_ENDPOINTS.filter((e) => e.module === endpoint.module && (e.records || e.recordElement))
      : [endpoint];
    let seen = 0;
    let applied = 0;
    sim.faults.clear();
    sim.setMutator(({ path, query, reply }) => {
      if (reply.status < 200 || reply.status >= 300) return undefined;
      if (!targets.some((t) => t.match(path, query))) return undefined;
      seen++;
      if (c.scope === 'once' && (applied > 0 || seen < c.nth)) return undefined;
      const out = mutation.apply(reply, ctx);
      if (out) applied++;
      return out;
    });
    const before = this.elsewhere.requests.length;
    let result: RunResult | undefined;
    let threw: unknown;
    try {
      result = await this.export(c, sim, config, store);
    } catch (err) {
      threw = err;
    } finally {
      sim.setMutator(undefined);
    }
    const outcome: FuzzOutcome = {
      status: result?.status ?? 'threw',
      applied,
      error: result?.error?.message ?? (threw instanceof Error ? threw.message : undefined),
    };
    const problems: string[] = [];
    if (this.elsewhere.requests.length !== before) problems.push('a request reached another origin');
    if (applied === 0 && mutation.kind !== 'beyond-2^53') return outcome; // nothing to mutate in this run
    outcome.blind = endpoint.blind?.[mutation.kind];
    if (result?.status === 'done') {
      const diff = await difference(sim, c, dir, result, mutation);
      // A blind mutation may end done with records missing: the limit is documented, the difference expected.
      if (diff && !outcome.blind) problems.push(`done with a difference: ${diff}`);
    } else {
      const published = await manifestKeys(dir);
      if (published.length)
        problems.push(`not done (${outcome.status}) but published ${published.join(', ')}`);
    }
    const want = expectationOf(c);
    if (want === 'exact' && result?.status !== 'done')
      problems.push(`expected done with exactly the records, got ${outcome.status}: ${outcome.error ?? ''}`);
    if (want === 'fail' && result?.status === 'done') problems.push('expected the run not to end done');
    if (problems.length) outcome.problem = problems.join('; ');
    return outcome;
  }

  /** Runs the module until done or failed (a few invocations: re-reads and continues). */
  private async export(
    c: FuzzCase,
    sim: Simulator,
    config: AppConfig,
    store: Awaited<ReturnType<typeof tempStore>>['store'],
  ): Promise<RunResult> {
    const own: typeof fetch = (i, o) => fetch(i, o); // a fetch of its own: jose's JWKS cache starts empty
    const idp = c.endpoint.auth === 'idp';
    const tokens = createLocalTokenProvider({
      credentials: idp
        ? {
            method: 'idp-client-credentials',
            tokenUrl: sim.tokenUrl,
            clientId: sim.defaults.clientId,
            clientSecret: sim.defaults.clientSecret,
          }
        : { method: 'qualys-oidc', clientId: sim.defaults.clientId, clientSecret: sim.defaults.clientSecret },
      endpoints: config.endpoints,
      tokenCheck: config.tokenCheck,
      fetch: own,
      retry: { maxRetries: 2, sleep: async () => {} },
    });
    const client = createQualysClient({
      gatewayUrl: config.endpoints.gatewayUrl,
      pciUrl: config.endpoints.pciUrl,
      apiUrl: config.endpoints.apiUrl,
      fetch: own,
      auth: {
        gateway: { scheme: 'bearer', tokens },
        pci: { scheme: 'basic', username: sim.defaults.pciUsername, password: sim.defaults.pciPassword },
        api: { scheme: 'basic', username: sim.defaults.username, password: sim.defaults.password },
      },
      timeoutMs: 3000,
      maxRetries: config.http.maxRetries,
      concurrency: 2,
      limits: {
        maxResponseBytes: config.http.maxResponseBytes,
        maxDecodedBytes: config.http.maxDecodedBytes,
      },
      backoffBaseMs: 1,
      backoffMaxMs: 5,
    });
    let result: RunResult | undefined;
    for (let i = 0; i < 12; i++) {
      result = await runExport({
        module: getModule(c.endpoint.module),
        config,
        client,
        store,
        invocation: result?.runId ? { continuation: { runId: result.runId } } : {},
        deadline: () => Date.now() + 600_000,
        now: NOW,
      });
      if (result.status !== 'continue') break;
    }
    return result!;
  }
}

/** How a finished run differs from the simulator's records (as changed by a content mutation), if it does. */
async function difference(
  sim: Simulator,
  c: FuzzCase,
  dir: string,
  result: RunResult,
  mutation: Mutation,
): Promise<string | undefined> {
  const run = await readRunFromDir(dir, result.manifestKey!);
  const change = mutation.content?.record ?? ((r: Record<string, unknown>) => r);
  const expected = [...expectedRecordsFor(sim, c.endpoint.module, run.manifest.range)].map(change);
  if (c.endpoint.module === 'mobile-assets') {
    const key = (r: Record<string, unknown>) => canonical(r);
    const got = run.records.map(key).sort();
    const want = expected.map(key).sort();
    if (got.length !== want.length) return `${got.length} records, the simulator holds ${want.length}`;
    const k = got.findIndex((g, i) => g !== want[i]);
    return k < 0 ? undefined : `record ${k} differs: ${got[k]!.slice(0, 200)}`;
  }
  const got = [...run.lines].sort();
  const want = expected.map((r) => toJson(r)).sort();
  if (got.length !== want.length) return `${got.length} records, the simulator holds ${want.length}`;
  const k = got.findIndex((g, i) => g !== want[i]);
  return k < 0 ? undefined : `a record differs: ${got[k]!.slice(0, 200)}`;
}

/** JSON with every object's keys in order, so two records compare whatever order the XML reader kept. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return toJson(v);
}
