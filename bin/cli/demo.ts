import { basename, dirname, relative } from 'node:path';
import { localAuth } from '../../shared/app/build-client';
import { loadConfig, MODULES, type Env } from '../../shared/config';
import { newRunId } from '../../shared/export/engine';
import { stateKeyFor } from '../../shared/export/layout';
import type { Manifest } from '../../shared/export/types';
import { ConfigError } from '../../shared/errors';
import { createLogger } from '../../shared/log';
import { intFlag, numberFlag, parseFlags } from './args';
import { watchInterrupts } from './interrupt';
import type { ProgressReporter } from './progress';
import { runModules } from './run-modules';
import { openOutput } from './stores';

const HELP = `qexport demo [--out DIR] [--scale N] [--seed N]

Starts the built-in Qualys API simulator on 127.0.0.1, obtains a token through the same code the Lambda uses
(Qualys OIDC client id/secret, verified against the simulator's JWKS; PCI Merchant with its own Basic
account; the API server with the Qualys user over Basic), runs all six exports through the same run engine,
checks every count against the simulator, and writes the S3 layout into a fresh directory
of its own, DIR/demo-<time>-<id>/, so every demo starts from nothing (a demo never resumes another demo's
checkpoint, and never touches real exports in DIR). The simulator is on 127.0.0.1: no proxy is used.

Options:
  --out DIR     where to write (default ./exports)
  --scale N     multiply the default record counts (default 1: ${countsFor(1).pci} PCI scans, ${countsFor(1).certview} certificates,
                ${countsFor(1).edr} EDR events, ${countsFor(1).mobile} mobile assets, ${countsFor(1).vmdr} VMDR hosts (about
                ${4 * countsFor(1).vmdr} detections), ${countsFor(1).kb} KnowledgeBase QIDs)
  --seed N      simulator data seed (default 1)
  -h, --help    this help
`;

export function countsFor(scale: number) {
  return {
    pci: Math.round(2_000 * scale),
    certview: Math.round(4_000 * scale),
    edr: Math.round(50_000 * scale),
    mobile: Math.round(2_000 * scale),
    vmdr: Math.round(2_000 * scale),
    kb: Math.round(3_000 * scale),
  };
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags('demo', argv, {
    out: { type: 'string' },
    scale: { type: 'string' },
    seed: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) throw new ConfigError(`demo takes no arguments (got '${positionals.join(' ')}')`);
  const scale = numberFlag('scale', values.scale, 1, 0.001, 1000);
  const seed = intFlag('seed', values.seed, 1, 0, 2 ** 31);
  const target = await openOutput(values.out ?? 'exports');
  // Each demo in a directory of its own: the simulator's data is generated afresh (EDR events relative to now),
  // so a checkpoint carried over from an earlier demo would describe data this simulator does not hold.
  const demoPrefix = `demo-${newRunId(new Date())}`;

  const { startSimulator, expectedOptions } = await import('../../test/sim');
  const counts = countsFor(scale);
  const now = Date.now();
  // Spread the EDR events over the last 20 hours, inside the first run's 24 h look-back window.
  const span = 20 * 3600_000;
  const sim = await startSimulator({
    port: 0,
    seed,
    counts,
    // PCI Merchant as documented: its own Basic account and apiVersion: V1; gateway tokens refused there.
    dialect: { pciAuth: 'documented', pciRequireApiVersion: true },
    edr: {
      start: new Date(now - span).toISOString(),
      stepMs: Math.max(1, Math.floor(span / Math.max(1, counts.edr))),
    },
  });
  try {
    process.stderr.write(`simulator: ${sim.url} (seed ${seed}, scale ${scale})\n`);
    const env: Env = {
      QUALYS_GATEWAY_URL: sim.url,
      QUALYS_PCI_URL: sim.url,
      QUALYS_AUTH_METHOD: 'qualys-oidc',
      QUALYS_CLIENT_ID: sim.defaults.clientId,
      QUALYS_CLIENT_SECRET: sim.defaults.clientSecret,
      // PCI Merchant has its own account (HTTP Basic), separate from the gateway's OIDC client.
      QUALYS_PCI_AUTH_METHOD: 'basic',
      QUALYS_PCI_USERNAME: sim.defaults.pciUsername,
      QUALYS_PCI_PASSWORD: sim.defaults.pciPassword,
      // The API server (host detections, KnowledgeBase): the Qualys user over Basic, as every public client does.
      QUALYS_API_URL: sim.url,
      QUALYS_VM_AUTH_METHOD: 'basic',
      QUALYS_USERNAME: sim.defaults.username,
      QUALYS_PASSWORD: sim.defaults.password,
      QUALYS_JWKS_URL: sim.jwksUrl,
      QUALYS_ISSUER: sim.issuer,
      QUALYS_AUDIENCE: sim.audience,
      QEXPORT_PREFIX: demoPrefix,
    };
    const config = loadConfig(env);
    const auth = localAuth({
      env,
      config,
      modules: MODULES,
      fetch: globalThis.fetch,
      logger: createLogger({ level: 'warn' }),
    });
    let reporter: ProgressReporter | undefined;
    const interrupts = watchInterrupts({
      target,
      stateKeys: MODULES.map((module) => ({ module, key: stateKeyFor(config, module) })),
      tempKeys: [`${demoPrefix}/`],
      resumeHint: false,
      before: () => reporter?.finish(),
    });
    const outcomes = await runModules({
      modules: MODULES,
      config,
      auth,
      store: target.store,
      fetch: globalThis.fetch,
      signal: interrupts.signal,
      onReporter: (r) => (reporter = r),
    });
    await interrupts.settle();

    // Cross-check every manifest against what the simulator holds.
    let mismatches = 0;
    const manifests: Manifest[] = [];
    for (const o of outcomes) {
      if (!o.result?.manifestKey) continue;
      const manifest = (await target.store.getJson(o.result.manifestKey)) as Manifest;
      manifests.push(manifest);
      const module = o.row.module as (typeof MODULES)[number];
      const expected = count(sim.expectedIds(module, expectedOptions(module, manifest.range)));
      const ok = expected === manifest.totals.records;
      if (!ok) mismatches++;
      process.stdout.write(
        `${ok ? 'ok  ' : 'FAIL'} ${o.row.module}: ${manifest.totals.records} records written, simulator holds ${expected}\n`,
      );
    }
    const failed = outcomes.filter((o) => o.error);
    for (const f of failed) process.stderr.write(`qexport: ${f.row.module} failed: ${f.error}\n`);
    // The real run directories (each holds its parts and _manifest.json).
    process.stdout.write(`output: ${target.store.describe(demoPrefix)}\n`);
    for (const o of outcomes) {
      if (o.result?.manifestKey) {
        process.stdout.write(
          `  ${o.row.module.padEnd(22)} ${target.store.describe(dirname(o.result.manifestKey))}/\n`,
        );
      }
    }
    const root = target.store.describe(demoPrefix);
    // A part to look into: EDR's (the largest module), or any.
    const part = (manifests.find((m) => m.module === 'edr-events') ?? manifests[0])?.parts[0]?.key;
    if (target.kind === 'dir' && !failed.length) {
      process.stdout.write(
        `look at the data:\n` +
          `  ${selfCommand()} query ${shellWord(root)} ${shellWord(DEMO_QUERY)}\n` +
          `  ${selfCommand()} query ${shellWord(root)}      (interactive: SQL from stdin; see docs/querying.md)\n` +
          (part ? `  zcat ${shellWord(target.store.describe(part))} | head -n 2\n` : ''),
      );
    }
    return failed.length || mismatches ? 3 : 0;
  } finally {
    await sim.close();
  }
}

/** What the demo suggests running on its output: the complete EDR events by type. */
const DEMO_QUERY =
  'SELECT type, count(*) AS events FROM edr_events_complete GROUP BY type ORDER BY events DESC';

/** How the user can start qexport again: as they started it (npm run / npx, a linked bin, or the launcher's path). */
function selfCommand(): string {
  if (process.env.npm_lifecycle_event || process.env.npm_command) return 'npx qexport';
  const launcher = process.argv[1] ?? '';
  if (basename(launcher) === 'qexport') return 'qexport';
  const rel = relative(process.cwd(), launcher);
  return `node ${shellWord(rel && !rel.startsWith('..') ? rel : launcher)}`;
}

/** A word the shell passes through unchanged: as it is when safe, else single-quoted. */
export function shellWord(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function count(it: Iterable<unknown>): number {
  let n = 0;
  for (const _ of it) n++;
  return n;
}
