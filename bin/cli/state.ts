import { loadConfig, MODULES, type ModuleName } from '../../shared/config';
import { LeaseHeldError, resetState, showState } from '../../shared/export/admin';
import { stateKeyFor } from '../../shared/export/layout';
import { thisProcess } from '../../shared/export/lease';
import { ConfigError } from '../../shared/errors';
import { getModule } from '../../shared/modules';
import { parseFlags } from './args';
import { cliEnv } from './dotenv';
import { locateExportRoot } from './roots';
import { openOutput } from './stores';

const HELP = `qexport state show <module|all> [options]
qexport state reset <module> [--all] [--take-over] --yes [options]

show    explains each module's checkpoint: the run in progress and where it resumes, who holds the lease and
        until when (and whether that process still runs), what the last complete run committed (EDR: where the
        next window starts), backfills. A damaged state file is explained: which field, and how to start over.
reset   abandons the run in progress (its parts were never published and are deleted); what earlier runs
        committed is kept, so EDR continues from its last complete window. With --all, forgets that too: the
        next run starts from the beginning (EDR: the initial look-back); --all also replaces a damaged state
        file. Refused while a run holds the lease, unless its holder was a process on this host that no longer
        runs, or --take-over is given (that run then stops at its next write). Asks for --yes first.

Options:
  --out DIR | s3://bucket/prefix   where the exports are (default ./exports). show reads any local output
                                   folder read-only: DIR/<prefix> (QEXPORT_PREFIX, default qualys), DIR
                                   itself (a demo's folder, DIR/demo-<time>-<id>), or the one export in DIR
  --dotenv FILE                    read variables from FILE (QEXPORT_PREFIX, AWS settings)
  --json                           show: print the state files as JSON instead of sentences
  --all                            reset: also forget what earlier runs committed
  --take-over                      reset: even while a live run holds the lease
  --yes                            reset: do it
  -h, --help                       this help

Exit codes: 0 done; 2 usage or setup problem, or reset without --yes; 3 refused: a run holds the lease.
`;

export async function stateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags('state', argv, {
    out: { type: 'string' },
    dotenv: { type: 'string' },
    json: { type: 'boolean' },
    all: { type: 'boolean' },
    'take-over': { type: 'boolean' },
    yes: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [action, which, ...extra] = positionals;
  if ((action !== 'show' && action !== 'reset') || !which || extra.length) {
    throw new ConfigError(
      `usage: qexport state show <module|all> | qexport state reset <module> --yes (see --help)`,
    );
  }
  if (action === 'reset' && which === 'all') {
    throw new ConfigError('reset takes one module at a time (reset all modules by naming each)');
  }
  const modules: ModuleName[] = which === 'all' ? [...MODULES] : [getModule(which).name];

  const env = cliEnv(values.dotenv);
  // show only reads: it works on a read-only folder and creates nothing (reset writes).
  const target = await openOutput(values.out ?? 'exports', env, { readOnly: action === 'show' });
  if (target.prefix !== undefined) env.QEXPORT_PREFIX = target.prefix;
  // Only the output prefix matters here: no Qualys settings or credentials are needed.
  let config = loadConfig(env, { modules: [] });
  if (action === 'show' && target.kind === 'dir') {
    // Any local output folder: the configured prefix under it, the folder itself (a demo's), or its one export.
    const root = locateExportRoot(target.where, config.output.prefix, '--out');
    config = { ...config, output: { ...config.output, prefix: root.prefix } };
  }
  await target.preflight(modules.map((m) => stateKeyFor(config, m)));

  if (action === 'show') {
    const reports = [];
    for (const m of modules)
      reports.push(await showState(target.store, config, m, new Date(), thisProcess()));
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify(
          reports.map((r) => ({
            where: r.where,
            ...(r.damaged ? { damaged: r.damaged } : { state: r.state }),
          })),
          null,
          2,
        )}\n`,
      );
    } else {
      for (const r of reports) process.stdout.write(`${r.module} (${r.where})\n  ${r.lines.join('\n  ')}\n`);
    }
    return 0;
  }

  const module = modules[0]!;
  const scope = values.all ? 'all' : 'run';
  if (!values.yes) {
    const r = await showState(target.store, config, module, new Date(), thisProcess());
    process.stdout.write(`${module} (${r.where})\n  ${r.lines.join('\n  ')}\n`);
    process.stderr.write(
      `qexport: this would ${scope === 'all' ? 'forget everything about' : 'abandon the run in progress of'} ${module}; ` +
        `run the same command with --yes to do it\n`,
    );
    return 2;
  }
  try {
    const lines = await resetState(target.store, config, module, {
      scope,
      local: thisProcess(),
      takeOver: values['take-over'],
    });
    process.stdout.write(`${module}: ${lines.join('; ')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof LeaseHeldError) {
      process.stderr.write(`qexport: ${err.message}\n`);
      return 3;
    }
    throw err;
  }
}
