import { localAuth, warmUp } from '../../shared/app/build-client';
import { loadConfig, MODULES, type ModuleName } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { createLogger } from '../../shared/log';
import { getModule } from '../../shared/modules';
import { parseFlags } from './args';
import { cliEnv } from './env-file';
import { runModules } from './run-modules';
import { openOutput } from './stores';

const HELP = `qexport export <module|all> [options]

Exports one module (or all four) from a real Qualys tenant. Configuration comes from environment variables
(or a .env file); see the README's configuration reference. An interrupted run resumes from its checkpoint
when the same command is run again.

Options:
  --out DIR | s3://bucket/prefix   where to write (default ./exports); S3 uses the standard AWS environment
  --env-file FILE                  read variables from FILE (default ./.env when present); real env wins
  --run-id ID                      name the run (default: timestamp + random suffix)
  -h, --help                       this help

Modules: ${MODULES.join(', ')}, or all
`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags('export', argv, {
    out: { type: 'string' },
    'env-file': { type: 'string' },
    'run-id': { type: 'string' },
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
  if (values['run-id'] !== undefined && !/^[A-Za-z0-9._-]{1,80}$/.test(values['run-id'])) {
    throw new ConfigError(`--run-id may contain only letters, digits, '.', '_' and '-' (1-80 characters)`);
  }

  const env = cliEnv(values['env-file']);
  const target = await openOutput(values.out ?? 'exports');
  if (target.prefix !== undefined) env.QEXPORT_PREFIX = target.prefix;
  const config = loadConfig(env, { modules });
  const logger = createLogger({ level: 'warn' });
  // Gateway credentials only when a gateway module runs; PCI Merchant credentials only for pci-scans.
  const auth = localAuth({ env, config, modules, fetch: globalThis.fetch, logger });
  // Fail fast on bad credentials, before any module starts.
  await warmUp(auth);

  const outcomes = await runModules({
    modules,
    config,
    auth,
    store: target.store,
    fetch: globalThis.fetch,
    runId: values['run-id'],
  });
  const failed = outcomes.filter((o) => o.error);
  for (const f of failed) {
    const stateKey = `${config.output.prefix ? `${config.output.prefix}/` : ''}_state/${f.row.module}.json`;
    process.stderr.write(
      `qexport: ${f.row.module} failed: ${f.error}\n  checkpoint kept at ${target.store.describe(stateKey)}; ` +
        `run the same command again to resume.\n`,
    );
  }
  process.stdout.write(`output: ${target.where}\n`);
  return failed.length ? 3 : 0;
}
