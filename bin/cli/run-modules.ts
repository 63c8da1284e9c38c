import type { AppConfig, ModuleName } from '../../shared/config';
import { buildQualysClient, type ClientAuth } from '../../shared/app/build-client';
import { runModuleLocally } from '../../shared/app/run-local';
import type { Manifest, RunResult } from '../../shared/export/types';
import { skewWarning } from '../../shared/export/window';
import { getModule } from '../../shared/modules';
import { ConfigError } from '../../shared/errors';
import { StateDamagedError } from '../../shared/export/state-shape';
import type { Logger } from '../../shared/log';
import type { TimeWindow } from '../../shared/modules/types';
import type { TokenProvider } from '../../shared/qualys/types';
import type { ObjectStore } from '../../shared/sink/types';
import { oneLine } from './errors';
import { formatSummary, ProgressReporter, type SummaryRow } from './progress';

export interface RunModulesOptions {
  modules: readonly ModuleName[];
  config: AppConfig;
  /** Per-origin auth (gateway, PCI); a bare TokenProvider sends the gateway bearer to both. */
  auth: ClientAuth | TokenProvider;
  store: ObjectStore;
  fetch: typeof fetch;
  runId?: string;
  /** A backfill run of exactly this window (edr-events): the scheduled window is left where it is. */
  backfill?: TimeWindow;
  /** Take each module over even from a live lease (--take-over). */
  takeOver?: boolean;
  logger?: Logger;
  /** Names the setup problem (AWS region, credentials, bucket, permissions) behind an error, if it is one. */
  setupProblem?: (err: unknown) => string | undefined;
  /** Ctrl-C: each run stops at its next page boundary, checkpoint written and lease released. */
  signal?: AbortSignal;
  /** Receives the progress reporter, e.g. to clear its live line before an interrupt message. */
  onReporter?: (reporter: ProgressReporter) => void;
  /** Progress goes here (default stderr); the summary table goes to `summaryOut` (default stdout). */
  out?: { write(s: string): unknown; isTTY?: boolean };
  summaryOut?: { write(s: string): unknown };
}

export interface ModuleOutcome {
  row: SummaryRow;
  result?: RunResult;
  /** One line. */
  error?: string;
  /** Set when the error is a setup problem (exit 2): one line per problem, each naming the fix. */
  setup?: string;
  /** Something the operator should know that did not stop the run (a clock skew beyond the overlap). */
  warning?: string;
  /** The state file (or the run's journal) is damaged: the error names the field and the remedy. */
  damaged?: boolean;
}

/**
 * Runs the given modules concurrently (each API has its own rate and concurrency limits, and each module
 * its own client), reporting progress, and prints the summary table. Returns one outcome per module.
 */
export async function runModules(opts: RunModulesOptions): Promise<ModuleOutcome[]> {
  const out = opts.out ?? process.stderr;
  const reporter = new ProgressReporter(out);
  opts.onReporter?.(reporter);
  const outcomes = await Promise.all(
    opts.modules.map(async (module): Promise<ModuleOutcome> => {
      const started = Date.now();
      const client = buildQualysClient(opts.config, opts.auth, opts.fetch, undefined, (w) =>
        reporter.waiting(module, w),
      );
      let bytes = 0;
      try {
        const result = await runModuleLocally({
          module,
          config: opts.config,
          client,
          store: opts.store,
          runId: opts.runId,
          backfill: opts.backfill,
          takeOver: opts.takeOver,
          logger: opts.logger,
          signal: opts.signal,
          onProgress: (p) => {
            bytes = p.bytes;
            reporter.update(p);
          },
        });
        if (result.manifestKey) {
          const manifest = (await opts.store.getJson(result.manifestKey)) as Manifest | undefined;
          if (manifest) bytes = manifest.totals.bytes;
        }
        const window = getModule(module).window;
        return {
          result,
          warning: window ? skewWarning(window, opts.config, client.clock()) : undefined,
          row: {
            module,
            status:
              result.status === 'continue'
                ? opts.signal?.aborted
                  ? 'interrupted'
                  : 'paused'
                : result.status,
            records: result.records,
            parts: result.parts,
            bytes,
            seconds: (Date.now() - started) / 1000,
          },
          error:
            result.status === 'failed' ||
            result.status === 'busy' ||
            (result.status === 'continue' && !opts.signal?.aborted)
              ? oneLine(result.error?.message ?? result.reason ?? result.status)
              : undefined,
        };
      } catch (err) {
        const error = oneLine(err);
        return {
          error,
          damaged: err instanceof StateDamagedError,
          // A configuration problem found when the run starts (e.g. a backfill overlapping covered time) is
          // one line naming the fix, exit 2, like any other; nothing was exported.
          // (One line per problem: a resumed run refusing changed settings names each.)
          setup:
            err instanceof ConfigError
              ? err.problems.map((p) => oneLine(p)).join('\n')
              : opts.setupProblem?.(err),
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
