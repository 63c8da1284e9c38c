import { localAuth, warmUp } from '../../shared/app/build-client';
import { proxyAwareFetch } from '../../shared/app/proxy-fetch';
import {
  ConfigProblems,
  ENV,
  loadConfig,
  loadCredentials,
  loadPciCredentials,
  loadVmCredentials,
  MODULES,
  needsApi,
  needsGateway,
  needsPci,
  vmAuthMethod,
  type Env,
  type ModuleName,
} from '../../shared/config';
import { stateKeyFor, withPrefix } from '../../shared/export/layout';
import type { StateFile } from '../../shared/export/types';
import { ConfigError } from '../../shared/errors';
import { createLogger, parseLogLevel, silentLogger } from '../../shared/log';
import { getModule } from '../../shared/modules';
import type { TimeWindow } from '../../shared/modules/types';
import { parseWindow } from '../../shared/export/window';
import { checkRunId } from '../../shared/export/run-id';
import { parseFlags } from './args';
import { failFastFetch, targetsOf } from './network';
import { cliEnv } from './dotenv';
import { watchInterrupts } from './interrupt';
import { formatInstant, type ProgressReporter } from './progress';
import { runModules } from './run-modules';
import { openOutput } from './stores';

const HELP = `qexport export <module|all> [options]

Exports one module (or all six) from a real Qualys tenant. Configuration comes from environment variables
(or a dotenv file); see docs/configuration.md. An interrupted run resumes from its checkpoint
when the same command is run again.

Options:
  --out DIR | s3://bucket/prefix   where to write (default ./exports); S3 uses the standard AWS environment
                                   (AWS_REGION or AWS_DEFAULT_REGION, AWS_PROFILE or keys, AWS_ENDPOINT_URL_S3)
  --dotenv FILE                    read variables from FILE (default ./.env when present); real env wins
                                   (formerly --env-file, which Node.js itself intercepts)
  --run-id ID                      name the run (default: timestamp + random suffix): letters, digits, '.',
                                   '_' and '-', starting with a letter or digit, no '..', at most 80. The same
                                   id resumes that run while it is in progress; naming a completed run is
                                   refused (exit 2): its published data is never overwritten
  --take-over                      start even while another run holds the module's lease (it then stops at
                                   its next write). A lease of a process on this host that no longer runs is
                                   taken over without it
  --from TIME --to TIME            backfill: export exactly this window (edr-events only; ISO times, e.g.
                                   2026-11-01T00:00:00Z). The scheduled window is left where it is; a window
                                   that overlaps what earlier runs covered is refused (it would write twice)
  -h, --help                       this help

Qualys and IdP requests go through HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the host.

Exit codes: 0 done; 2 usage, configuration or AWS setup problem (nothing was exported; the message names the
fix); 3 the export or its token request failed (the message says whether a checkpoint was kept);
130 interrupted (SIGINT, Ctrl-C), 143 terminated (SIGTERM), 129 hung up (SIGHUP, or npx killed): the
message says where the checkpoint is.

Modules: ${MODULES.join(', ')}, or all
`;

/**
 * Every configuration problem of the environment at once (settings, proxy, log level, and the credentials the
 * given modules need: gateway ones for gateway modules, PCI Merchant ones for pci-scans, the Qualys user for the
 * API server modules).
 */
export function loadCliConfig(env: Env, modules: readonly ModuleName[]) {
  const p = new ConfigProblems();
  const config = p.take(() => loadConfig(env, { modules }));
  const vmAuth = p.take(() => vmAuthMethod(env), 'basic');
  if (needsGateway(modules, vmAuth)) p.take(() => loadCredentials(env));
  if (needsPci(modules)) p.take(() => loadPciCredentials(env));
  if (needsApi(modules) && vmAuth === 'basic') p.take(() => loadVmCredentials(env));
  p.throwIfAny();
  return config!;
}

/**
 * A time flag (--from, --to): an ISO 8601 time with its zone (2026-11-01T00:00:00Z, …+02:00) or a date
 * (2026-11-01, midnight UTC). Without a zone the time would be read in this machine's zone: refused.
 */
export function timeFlag(name: string, value: string): number {
  const iso = /^\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d{1,9})?)?(Z|[+-]\d\d:?\d\d))?$/i;
  const ms = Date.parse(value);
  if (!iso.test(value.trim()) || Number.isNaN(ms)) {
    throw new ConfigError(
      `--${name} must be an ISO 8601 time with its zone, e.g. 2026-11-01T00:00:00Z, or a date (2026-11-01, ` +
        `midnight UTC), got '${value}'`,
    );
  }
  return ms;
}

/** The CLI's logger: QEXPORT_LOG_LEVEL when set (JSON lines), otherwise silent (progress and summary speak). */
export function cliLogger(env: Env) {
  const level = env[ENV.logLevel]?.trim();
  return level ? createLogger({ level: parseLogLevel(level) }) : silentLogger;
}

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags('export', argv, {
    out: { type: 'string' },
    dotenv: { type: 'string' },
    'run-id': { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    'take-over': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length !== 1) {
    throw new ConfigError(
      `export takes exactly one module name or 'all' (got ${positionals.length}); see 'qexport export --help'`,
    );
  }
  const which = positionals[0]!;
  const modules: ModuleName[] = which === 'all' ? [...MODULES] : [getModule(which).name];
  if (values['run-id'] !== undefined) checkRunId(values['run-id'], '--run-id');

  let backfill: TimeWindow | undefined;
  if (values.from !== undefined || values.to !== undefined) {
    if (values.from === undefined || values.to === undefined)
      throw new ConfigError(
        `a backfill needs both --from and --to (missing ${values.from === undefined ? '--from' : '--to'})`,
      );
    if (modules.length !== 1 || !getModule(modules[0]!).startBackfill)
      throw new ConfigError(
        `--from/--to backfill a time window: only edr-events reads by window (not ${which}); snapshots have no window`,
      );
    const from = timeFlag('from', values.from);
    const to = timeFlag('to', values.to);
    if (from >= to) throw new ConfigError(`--from (${values.from}) must be before --to (${values.to})`);
    backfill = parseWindow({ from: values.from, to: values.to }, '--from/--to');
    if (to > Date.now())
      throw new ConfigError(`--to (${values.to}) is in the future: a backfill covers the past only`);
  }

  const env = cliEnv(values.dotenv);
  const target = await openOutput(values.out ?? 'exports', env);
  if (target.prefix !== undefined) env.QEXPORT_PREFIX = target.prefix;
  const config = loadCliConfig(env, modules);
  const stateKeys = modules.map((module) => ({ module, key: stateKeyFor(config, module) }));
  // Reads each state file once: region, credentials, bucket, permissions and endpoint problems surface here
  // as one line naming the fix, before a token is requested or anything is written.
  await target.preflight(stateKeys.map((s) => s.key));

  const logger = cliLogger(env);
  // Nothing listening, no such host, a certificate refused: said at once, naming the URL (not after retries).
  const fetch = failFastFetch(proxyAwareFetch(env), targetsOf(config, env));
  // Gateway credentials only when a gateway module runs; PCI Merchant credentials only for pci-scans.
  const auth = localAuth({ env, config, modules, fetch, logger });
  // Fail fast on bad credentials or an unreachable Qualys, before any module starts.
  await warmUp(auth);

  let reporter: ProgressReporter | undefined;
  const interrupts = watchInterrupts({
    target,
    stateKeys,
    tempKeys: [...modules.map((m) => withPrefix(config, `${m}/`)), ...stateKeys.map((s) => s.key)],
    resumeHint: true,
    before: () => reporter?.finish(),
  });
  const outcomes = await runModules({
    modules,
    config,
    auth,
    store: target.store,
    fetch,
    runId: values['run-id'],
    backfill,
    takeOver: values['take-over'],
    logger,
    signal: interrupts.signal,
    setupProblem: (err) => target.setupProblem(err),
    onReporter: (r) => (reporter = r),
  });
  // Interrupted: says where each checkpoint is and exits 130/143 (never returns then).
  await interrupts.settle();

  for (const o of outcomes)
    if (o.warning) process.stderr.write(`qexport: ${o.row.module}: warning: ${o.warning}\n`);
  let setup = false;
  for (const f of outcomes.filter((o) => o.error)) {
    if (f.setup) {
      setup = true;
      for (const line of f.setup.split('\n')) process.stderr.write(`qexport: ${f.row.module}: ${line}\n`);
      continue;
    }
    if (f.result?.status === 'busy') {
      // Another run holds the module's lease: nothing was written by this one.
      process.stderr.write(`qexport: ${f.row.module} not started: ${f.error}\n`);
      continue;
    }
    // A wait longer than QEXPORT_MAX_WAIT_SECONDS: the run stopped with its checkpoint, to be resumed after it.
    const resumeAt =
      f.result?.status === 'continue' ? Date.now() + (f.result.waitSeconds ?? 0) * 1000 : undefined;
    process.stderr.write(
      `qexport: ${f.row.module} ${resumeAt === undefined ? 'failed' : 'paused'}: ${f.error}\n`,
    );
    // A damaged state file: the message said what to do; nothing here can say more about a checkpoint.
    if (f.damaged) continue;
    // Claim a checkpoint only when the state file really holds this run's progress.
    const key = stateKeyFor(config, f.row.module as ModuleName);
    const state = (await target.store.getJson(key).catch(() => undefined)) as StateFile | undefined;
    const run = state?.inProgress;
    process.stderr.write(
      run
        ? `  checkpoint kept at ${target.store.describe(key)} (run ${run.runId}, ${run.records} records ` +
            `stored); ${resumeAt === undefined ? 'run' : `resume after ${formatInstant(resumeAt)}: run`} the same command again to resume.\n`
        : `  no checkpoint was written; the next run starts from the beginning.\n`,
    );
  }
  process.stdout.write(`output: ${target.where}\n`);
  if (setup) return 2;
  return outcomes.some((o) => o.error) ? 3 : 0;
}
