import { localOwnerPrefix } from '../../shared/app/run-local';
import { storedParts } from '../../shared/export/journal';
import type { StateFile } from '../../shared/export/types';
import type { OutputTarget } from './stores';

/** What every lease this process takes starts with (`cli:<host>:<pid>:`; see localOwner). */
const OUR_LEASES = localOwnerPrefix();

type Sig = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** Exit codes on a signal: 128 + the signal number, as shells report them. */
export const SIGNAL_EXIT: Record<Sig, number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };

/**
 * How long the first signal waits for the runs to stop at a page boundary (store the open part, write the
 * checkpoint, release the lease) before stopping at once. SIGTERM comes from service managers that follow
 * with SIGKILL after about 10 s (docker stop), so it waits less; so does SIGHUP (a closed terminal, or the npm
 * process that started qexport gone: see launcher.ts).
 */
export const GRACE_MS: Record<Sig, number> = { SIGINT: 30_000, SIGTERM: 8_000, SIGHUP: 8_000 };

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
  graceMs?: Partial<Record<Sig, number>>;
  /** How long to wait for the state files when reporting (S3 may be slow or unreachable). */
  stateTimeoutMs?: number;
}

export interface Interrupts {
  /** Aborted on the first SIGINT/SIGTERM/SIGHUP: pass it to the runs so they stop at the next page boundary. */
  signal: AbortSignal;
  /** The signal received, if any. */
  received(): Sig | undefined;
  /**
   * After the runs stopped: says where each checkpoint is, removes leftover temporary files and exits with
   * 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP). Returns only when no signal was received (then it removes the
   * handlers).
   */
  settle(): Promise<void>;
}

/**
 * SIGINT/SIGTERM/SIGHUP handling for the commands that export. The first signal asks the runs to stop at the next
 * page boundary: the engine stores the open part, writes the checkpoint and releases the module's lease, so
 * the same command resumes at once. If they have not stopped within the grace period, or on a second signal,
 * the CLI stops at once: every checkpoint on disk is still consistent (written only after the data it covers),
 * the directory store's unfinished temporary files are removed, and the message says until when the lease
 * still blocks a rerun.
 */
export function watchInterrupts(opts: InterruptOptions): Interrupts {
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const controller = new AbortController();
  let got: Sig | undefined;
  let exiting = false;

  /** Reports, sweeps and exits. `immediate`: the runs did not stop by themselves (leases may be held). */
  const exit = async (signal: Sig, immediate: boolean): Promise<never> => {
    if (exiting) process.exit(SIGNAL_EXIT[signal]);
    exiting = true;
    const lines: string[] = [];
    let checkpoints = 0;
    const store = opts.target.store;
    const read = Promise.all(
      opts.stateKeys.map(async ({ module, key }) => {
        let stored;
        try {
          stored = await store.readJson(key);
        } catch {
          return; // cannot tell: claim nothing
        }
        const state = stored?.value as StateFile | undefined;
        const run = state?.inProgress;
        if (run) {
          checkpoints++;
          lines.push(
            `qexport: ${module}: checkpoint at ${store.describe(key)} ` +
              `(run ${run.runId}, ${run.records} records in ${storedParts(run)} parts stored)`,
          );
        }
        const lease = state?.lease;
        if (!immediate || !stored || !lease || Date.parse(lease.expiresAt) <= Date.now()) return;
        // Stopping at once leaves the lease this process holds: give it up, so the same command resumes now.
        // Compare-and-swap against the version just read: if the run wrote meanwhile, the lease stays.
        if (lease.owner.startsWith(OUR_LEASES)) {
          const { lease: _released, ...rest } = state;
          try {
            await store.putJson(key, rest, { ifMatch: stored.etag });
            return;
          } catch {
            // fall through: say until when it blocks
          }
        }
        lines.push(
          `qexport: ${module}: its lease is held until ${lease.expiresAt}; a rerun before then reports it busy`,
        );
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([read, new Promise((r) => (timer = setTimeout(r, opts.stateTimeoutMs ?? 5000)))]);
    clearTimeout(timer);
    // Synchronous from here to exit: no export code runs in between, so no new temporary file appears.
    const removed = opts.target.sweepTempFiles(opts.tempKeys);
    write(
      `qexport: ${immediate ? 'stopped at once' : 'stopped'} on ${signal}` +
        (removed.length ? `; removed ${removed.length} unfinished temporary file(s)` : ''),
    );
    for (const l of lines.sort()) write(l);
    if (opts.resumeHint) {
      write(
        checkpoints
          ? 'qexport: run the same command again to resume from the checkpoint'
          : 'qexport: no unfinished run had a checkpoint yet; the next run starts a new one',
      );
    }
    process.exit(SIGNAL_EXIT[signal]);
  };

  const handler = (signal: Sig) => {
    if (got) {
      void exit(got, true);
      return;
    }
    got = signal;
    opts.before?.();
    write(
      `qexport: ${signal}: finishing the current page and writing the checkpoint` +
        (signal === 'SIGINT' ? ' (Ctrl-C again to stop at once)' : ''),
    );
    controller.abort();
    setTimeout(() => void exit(signal, true), opts.graceMs?.[signal] ?? GRACE_MS[signal]).unref();
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  const onHup = () => handler('SIGHUP');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  return {
    signal: controller.signal,
    received: () => got,
    async settle() {
      if (got) await exit(got, false);
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      process.off('SIGHUP', onHup);
    },
  };
}
