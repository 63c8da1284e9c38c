import { ConfigError } from '../../shared/errors';
import { demoCommand } from './demo';
import { errorLines } from './errors';
import { exportCommand } from './export';
import { watchLauncher } from './launcher';
import { queryCommand } from './query';
import { stateCommand } from './state';
import { tokenCommand } from './token';

export const USAGE = `qexport — export Qualys data (PCI scans, CertView certificates, EDR events, Mobile assets) to NDJSON

Usage:
  qexport demo   [--out DIR] [--scale N] [--seed N]     run all six exports against the built-in simulator
  qexport export <module|all> [--out DIR|s3://bucket/prefix] [--dotenv FILE] [--run-id ID]
                                                     export from a real Qualys (config from environment / .env)
  qexport export edr-events --from TIME --to TIME [...]   backfill one window without moving the schedule
  qexport token  [--dotenv FILE]                        obtain and check a token; prints method, subject, expiry
  qexport state  show <module|all> | reset <module> --yes [--all] [--out DIR|s3://…]
                                                     explain or clear a module's checkpoint
  qexport query  <dir> ["<SQL>"] [--format table|csv|json|ndjson]
                                                     SQL (DuckDB) over an output folder: the Athena tables
                                                     and views; without SQL, statements from stdin
  qexport sim    [--port N] [--scale N] [--seed N] [--latency MS] [--fault ...]
                                                     run the Qualys API simulator
  qexport <command> --help                              details for one command

Modules: pci-scans, certview-certificates, edr-events, mobile-assets
Qualys and IdP requests honour HTTPS_PROXY / HTTP_PROXY / NO_PROXY.

Exit codes:
  0    done
  2    usage, configuration or AWS setup problem: one line per problem, naming the fix; nothing was exported
  3    the export (or the token request before it) failed; the message says whether a checkpoint was kept
  130  interrupted (SIGINT, Ctrl-C); 143 terminated (SIGTERM); 129 hung up (SIGHUP, or npx killed): the
       message says where the checkpoint is, unfinished temporary files are removed; run the same command
       again to resume
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // Started by npx / npm run: stop when npm is killed (npm does not pass signals on; see launcher.ts).
  watchLauncher();
  try {
    switch (cmd) {
      case 'demo':
        return await demoCommand(rest);
      case 'export':
        return await exportCommand(rest);
      case 'token':
        return await tokenCommand(rest);
      case 'state':
        return await stateCommand(rest);
      case 'query':
        return await queryCommand(rest);
      case 'sim': {
        const { runSimulatorCli } = await import('../../test/sim/cli');
        return await runSimulatorCli(rest);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new ConfigError(
          `unknown command '${cmd}' (expected demo, export, token, state, query or sim; see 'qexport --help')`,
        );
    }
  } catch (err) {
    for (const line of errorLines(err)) process.stderr.write(`qexport: ${line}\n`);
    return err instanceof ConfigError ? 2 : 3;
  }
}
