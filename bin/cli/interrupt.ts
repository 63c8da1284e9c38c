import type { StateFile } from '../../shared/export/types';
import type { OutputTarget } from './stores';

/** Exit codes on a signal: 128 + the signal number, as shells report them. */
export const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM', number> = { SIGINT: 130, SIGTERM: 143 };

export interface InterruptOptions {
  target: OutputTarget;
  /** The state file of each module this command runs. */
  stateKeys: { module: string; key: string }[];
  /** What to sweep for the directory store's temporary files (see OutputTarget.sweepTempFiles). */
  tempKeys: string[];
  /** Say how to resume (export); the demo has nothing to resume. */
  resumeHint: boolean;
  /** Called first, e.g. to clear the live progress line. */
  before?: () => void;
  write?: (line: string) => void;
  /** How long to wait for the state files before exiting anyway (S3 may be slow or unreachable). */
  stateTimeoutMs?: number;
}

/**
 * On SIGINT/SIGTERM: says where each module's checkpoint is (only for state files that really hold a run in
 * progress), removes the directory store's temporary files, and exits 130 (SIGINT) or 143 (SIGTERM). A second
 * signal exits at once. Every checkpoint on disk is consistent at any moment (it is written only after the data
 * it covers), so stopping between two writes loses nothing: the same command resumes after the last stored page.
 * Returns a function that removes the handlers.
 */
export function exitOnInterrupt(opts: InterruptOptions): () => void {
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  let stopping = false;
  const handler = (signal: 'SIGINT' | 'SIGTERM') => {
    const code = SIGNAL_EXIT[signal];
    if (stopping) process.exit(code);
    stopping = true;
    opts.before?.();
    void (async () => {
      const lines: string[] = [];
      const read = Promise.all(
        opts.stateKeys.map(async ({ module, key }) => {
          let state: StateFile | undefined;
          try {
            state = (await opts.target.store.getJson(key)) as StateFile | undefined;
          } catch {
            return; // cannot tell: claim nothing
          }
          const run = state?.inProgress;
          if (!run) return;
          lines.push(
            `qexport: ${module}: checkpoint at ${opts.target.store.describe(key)} ` +
              `(run ${run.runId}, ${run.records} records in ${run.parts.length} parts stored)`,
          );
        }),
      );
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([read, new Promise((r) => (timer = setTimeout(r, opts.stateTimeoutMs ?? 5000)))]);
      clearTimeout(timer);
      // Synchronous from here to exit: no export code runs in between, so no new temporary file appears.
      const removed = opts.target.sweepTempFiles(opts.tempKeys);
      write(
        `qexport: interrupted by ${signal}` +
          (removed.length ? `; removed ${removed.length} unfinished temporary file(s)` : ''),
      );
      for (const l of lines.sort()) write(l);
      if (opts.resumeHint) {
        write(
          lines.length
            ? 'qexport: run the same command again to resume from the checkpoint'
            : 'qexport: no unfinished run had a checkpoint yet; the next run starts a new one',
        );
      }
      process.exit(code);
    })();
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return () => {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  };
}
