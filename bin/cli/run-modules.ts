import type { AppConfig, ModuleName } from '../../shared/config';
import { buildQualysClient, type ClientAuth } from '../../shared/app/build-client';
import { runModuleLocally } from '../../shared/app/run-local';
import type { Manifest, RunResult } from '../../shared/export/types';
import { redact } from '../../shared/log';
import type { TokenProvider } from '../../shared/qualys/types';
import type { ObjectStore } from '../../shared/sink/types';
import { formatSummary, ProgressReporter, type SummaryRow } from './progress';

export interface RunModulesOptions {
  modules: readonly ModuleName[];
  config: AppConfig;
  /** Per-origin auth (gateway, PCI); a bare TokenProvider sends the gateway bearer to both. */
  auth: ClientAuth | TokenProvider;
  store: ObjectStore;
  fetch: typeof fetch;
  runId?: string;
  /** Progress goes here (default stderr); the summary table goes to `summaryOut` (default stdout). */
  out?: { write(s: string): unknown; isTTY?: boolean };
  summaryOut?: { write(s: string): unknown };
}

export interface ModuleOutcome {
  row: SummaryRow;
  result?: RunResult;
  error?: string;
}

/**
 * Runs the given modules concurrently (each API has its own rate and concurrency limits, and each module
 * its own client), reporting progress, and prints the summary table. Returns one outcome per module.
 */
export async function runModules(opts: RunModulesOptions): Promise<ModuleOutcome[]> {
  const out = opts.out ?? process.stderr;
  const reporter = new ProgressReporter(out);
  const outcomes = await Promise.all(
    opts.modules.map(async (module): Promise<ModuleOutcome> => {
      const started = Date.now();
      const client = buildQualysClient(opts.config, opts.auth, opts.fetch);
      let bytes = 0;
      try {
        const result = await runModuleLocally({
          module,
          config: opts.config,
          client,
          store: opts.store,
          runId: opts.runId,
          onProgress: (p) => {
            bytes = p.bytes;
            reporter.update(p);
          },
        });
        if (result.manifestKey) {
          const manifest = (await opts.store.getJson(result.manifestKey)) as Manifest | undefined;
          if (manifest) bytes = manifest.totals.bytes;
        }
        return {
          result,
          row: {
            module,
            status: result.status,
            records: result.records,
            parts: result.parts,
            bytes,
            seconds: (Date.now() - started) / 1000,
          },
          error:
            result.status === 'failed' ? (result.error?.message ?? result.reason ?? 'failed') : undefined,
        };
      } catch (err) {
        const msg = redact(err instanceof Error ? err.message : String(err));
        return {
          error: msg,
          row: {
            module,
            status: 'failed',
            records: 0,
            parts: 0,
            bytes,
            seconds: (Date.now() - started) / 1000,
          },
        };
      }
    }),
  );
  reporter.finish();
  (opts.summaryOut ?? process.stdout).write(`${formatSummary(outcomes.map((o) => o.row))}\n`);
  return outcomes;
}
