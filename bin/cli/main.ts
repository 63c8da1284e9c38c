import { ConfigError, isQexportError } from '../../shared/errors';
import { redact } from '../../shared/log';
import { demoCommand } from './demo';
import { exportCommand } from './export';
import { tokenCommand } from './token';

export const USAGE = `qexport — export Qualys data (PCI scans, CertView certificates, EDR events, Mobile assets) to NDJSON

Usage:
  qexport demo   [--out DIR] [--scale N] [--seed N]     run all four exports against the built-in simulator
  qexport export <module|all> [--out DIR|s3://bucket/prefix] [--env-file FILE] [--run-id ID]
                                                     export from a real Qualys (config from environment / .env)
  qexport token  [--env-file FILE]                      obtain and check a token; prints method, subject, expiry
  qexport sim    [--port N] [--scale N] [--seed N] [--latency MS] [--fault ...]
                                                     run the Qualys API simulator
  qexport <command> --help                              details for one command

Modules: pci-scans, certview-certificates, edr-events, mobile-assets
Exit codes: 0 done, 2 usage or configuration error, 3 export failed (checkpoint kept; rerun to resume).
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'demo':
        return await demoCommand(rest);
      case 'export':
        return await exportCommand(rest);
      case 'token':
        return await tokenCommand(rest);
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
          `unknown command '${cmd}' (expected demo, export, token or sim; see 'qexport --help')`,
        );
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`qexport: ${redact(err.message)}\n`);
      return 2;
    }
    const msg = isQexportError(err) || err instanceof Error ? err.message : String(err);
    process.stderr.write(`qexport: ${redact(msg)}\n`);
    return 3;
  }
}
