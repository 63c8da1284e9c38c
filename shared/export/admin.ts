import type { AppConfig, ModuleName } from '../config';
import { ConfigError, QexportError } from '../errors';
import { getModule } from '../modules';
import { removeJournals, storedParts } from './journal';
import type { ObjectStore } from '../sink/types';
import { manifestKeyFor, runDirFor, scratchPrefixFor, stateKeyFor } from './layout';
import { describeHolder, describeWhen, holderState, leaseHeldMessage } from './lease';
import { dropScratchExcept } from './scratch';
import { leaseLive, StateRef } from './state';
import type { LeaseProcess, StateFile } from './types';

/** Refused because a run holds the module's lease (exit code 3 in the CLI: try again later). */
export class LeaseHeldError extends QexportError {
  constructor(message: string) {
    super('busy', message);
  }
}

export interface StateReport {
  module: ModuleName;
  /** Where the state file is (s3://… or a path). */
  where: string;
  exists: boolean;
  /** Absent when the file is damaged (see `damaged`). */
  state?: StateFile;
  /** Why the file cannot be used, naming the field and the remedy. */
  damaged?: string;
  /** Plain sentences for an operator, one per line. */
  lines: string[];
}

/** Explains a module's state file: the run in progress and its checkpoint, the lease, what was committed. */
export async function showState(
  store: ObjectStore,
  config: AppConfig,
  module: ModuleName,
  now = new Date(),
  /** This process, to tell whether a lease's local holder still runs (the CLI). */
  local?: LeaseProcess,
): Promise<StateReport> {
  const key = stateKeyFor(config, module);
  const inspected = await StateRef.inspect(store, key, getModule(module));
  const where = store.describe(key);
  if (inspected.damage) {
    return {
      module,
      where,
      exists: true,
      damaged: inspected.damage.message,
      lines: [`DAMAGED: ${inspected.damage.message}`],
    };
  }
  const ref = inspected.ref;
  const s = ref.state;
  const lines: string[] = [];
  if (!ref.exists) lines.push(`${module}: no state yet (${where}); the next run starts from the beginning.`);
  const run = s.inProgress;
  if (run) {
    lines.push(
      `run ${run.runId} in progress since ${run.startedAt}${run.backfill ? ` (backfill ${run.backfill.from} .. ${run.backfill.to})` : ''}: ` +
        `${run.records} records in ${storedParts(run)} stored parts, ${run.invocations} invocation(s), ${run.apiCalls} API calls` +
        (run.rereads ? `, read again ${run.rereads} time(s)` : ''),
    );
    lines.push(`  resumes from: ${JSON.stringify(summariseCursor(run.cursor))}`);
    if (run.lastError)
      lines.push(`  last error (${run.lastError.at}): [${run.lastError.code}] ${run.lastError.message}`);
  } else if (ref.exists) lines.push('no run in progress.');
  if (s.lease) {
    const holder = describeHolder(s.lease, local);
    const when = describeWhen(s.lease.expiresAt, now);
    const gone = local && s.lease.process && holderState(s.lease.process, local) === 'dead';
    lines.push(
      !leaseLive(s, now)
        ? `lease of ${holder} expired at ${when}: the next start takes the module over.`
        : gone
          ? `lease held by ${holder} until ${when}: that process is gone, so the next start on this host ` +
            'takes the module over at once.'
          : `lease held by ${holder} until ${when}: another start is refused until then; ` +
            `\`qexport export ${module} --take-over\` takes the module over deliberately (that run then stops at ` +
            'its next write).',
    );
  }
  const c = s.committed;
  if (c?.runId) {
    lines.push(
      `last complete run ${c.runId} at ${c.completedAt ?? '?'}; complete data through ${c.completeThrough ?? '?'}` +
        (typeof c.windowEnd === 'string' ? `; the next scheduled window starts near ${c.windowEnd}` : '') +
        (typeof c.nextSince === 'string'
          ? `; it was ${c.kind === 'incremental' ? 'an increment' : 'a snapshot'}: an incremental next run lists ` +
            `detections updated since ${c.nextSince} minus the overlap` +
            (typeof c.lastSnapshotAt === 'string' ? ` (last snapshot started ${c.lastSnapshotAt})` : '')
          : ''),
    );
  }
  for (const b of c?.backfills ?? []) lines.push(`backfilled ${b.from} .. ${b.to} (run ${b.runId})`);
  return { module, where, exists: ref.exists, state: s, lines };
}

/** Cursors can hold thousands of ids: show their scalar fields and the sizes of their lists. */
function summariseCursor(cursor: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cursor)) {
    out[k] = Array.isArray(v)
      ? `${v.length} items`
      : v && typeof v === 'object'
        ? summariseCursor(v as Record<string, unknown>)
        : v;
  }
  return out;
}

export interface ResetOptions {
  /** 'run': abandon the run in progress, keep what was committed. 'all': forget everything (the next EDR
   * window starts from the initial look-back; backfill records are forgotten too). */
  scope: 'run' | 'all';
  now?: Date;
  /** This process (the CLI): a lease held by a process of this host that no longer runs does not stop a reset. */
  local?: LeaseProcess;
  /** Reset even while a live lease is held (--take-over): that run stops at its next write. */
  takeOver?: boolean;
}

/**
 * Clears a module's checkpoint. Refuses while a live lease is held (a run is writing). The write is a
 * compare-and-swap against the state just read, so a run that starts meanwhile makes the reset fail, not
 * the run. The abandoned run's parts (never published: no manifest) are deleted.
 */
export async function resetState(
  store: ObjectStore,
  config: AppConfig,
  module: ModuleName,
  opts: ResetOptions,
): Promise<string[]> {
  const now = opts.now ?? new Date();
  const key = stateKeyFor(config, module);
  const inspected = await StateRef.inspect(store, key, getModule(module));
  if (inspected.damage) {
    // A damaged file cannot say which run it held; only replacing it as a whole is safe (compare-and-swap over the
    // damaged version, so a writer that repaired it meanwhile wins).
    if (opts.scope !== 'all') {
      throw new ConfigError(
        `${inspected.damage.message.replace(/; move .*$/s, '')}; \`state reset ${module} --all --yes\` replaces it ` +
          '(what earlier runs committed is forgotten too), or move it aside',
      );
    }
    await StateRef.over(store, key, inspected.etag, { module }).save(
      () =>
        new LeaseHeldError(
          `${module}'s state changed while it was being reset (a run started?); nothing was reset, try again`,
        ),
    );
    const removed = await removeJournals(store, config, module, 'all');
    return [
      `replaced the damaged state file ${store.describe(key)}: the next run of ${module} starts from the beginning` +
        (removed ? `; removed ${removed} journal object(s)` : ''),
    ];
  }
  const ref = inspected.ref;
  const s = ref.state;
  if (!ref.exists) return [`${module}: nothing to reset (no state at ${store.describe(ref.key)}).`];
  const lease = s.lease;
  if (lease && leaseLive(s, now) && !opts.takeOver) {
    const gone = opts.local && lease.process && holderState(lease.process, opts.local) === 'dead';
    if (!gone)
      throw new LeaseHeldError(leaseHeldMessage(module, lease, now, { local: opts.local, action: 'reset' }));
  }
  const done: string[] = [];
  const run = s.inProgress;
  delete s.inProgress;
  delete s.lease;
  if (opts.scope === 'all') delete s.committed;
  await ref.save(
    () =>
      new LeaseHeldError(
        `${module}'s state changed while it was being reset (a run started?); nothing was reset, try again`,
      ),
  );
  if (run) {
    done.push(
      `abandoned run ${run.runId} (${run.records} records in ${storedParts(run)} parts, never published)`,
    );
    const dir = runDirFor(config, module, run.dt, run.runId);
    const keys = await store.list(`${dir}/`);
    // Only a run without a manifest is abandoned data; a manifest means some reader may rely on it.
    if (!keys.includes(manifestKeyFor(dir)) && keys.length) {
      await store.delete(keys);
      done.push(`deleted its ${keys.length} object(s) under ${store.describe(dir)}/`);
    }
  }
  // Objects kept beside the state file by runs no longer referred to (the abandoned run's; with --all, all).
  const dropped = await dropScratchExcept(store, config, module, [s.committed?.runId]);
  if (dropped)
    done.push(`deleted ${dropped} object(s) under ${store.describe(scratchPrefixFor(config, module))}`);
  // The abandoned run's journal (and any a crash left behind): no run is in progress now.
  await removeJournals(store, config, module, 'all');
  done.push(
    opts.scope === 'all'
      ? `forgot what earlier runs committed: the next run of ${module} starts from the beginning`
      : `kept what earlier runs committed${s.committed?.runId ? ` (last complete run ${s.committed.runId})` : ''}`,
  );
  return done;
}
