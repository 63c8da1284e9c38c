import { PreconditionFailedError, QexportError } from '../errors';
import type { ModuleName } from '../config';
import type { ObjectStore } from '../sink/types';
import type { StateFile } from './types';

/**
 * Another writer changed the state file since this invocation last wrote it: the lease was taken over (it had
 * expired) or an operator reset the module. This invocation must stop writing at once.
 */
export class LeaseLostError extends QexportError {
  constructor(message: string) {
    super('lease-lost', message);
  }
}

/**
 * The module's state file as this invocation last read or wrote it. Every write is a compare-and-swap against
 * the version this invocation holds (`If-Match`, or `If-None-Match: *` when the file did not exist), so two
 * writers can never both believe they own the run. Writes are serialised: a heartbeat and a checkpoint never
 * race each other.
 */
/** Whether the state's lease is held by someone until after `now` (an expired lease is free to take). */
export const leaseLive = (state: StateFile, now: Date): boolean =>
  state.lease !== undefined && Date.parse(state.lease.expiresAt) > now.getTime();

export class StateRef {
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * The text of a write whose outcome is unknown (it failed with an error that does not say whether it landed,
   * and reading it back failed too). If a later write meets another version, that version may be this one.
   */
  private uncertain: string | undefined;

  private constructor(
    private readonly store: ObjectStore,
    readonly key: string,
    private etag: string | undefined,
    readonly state: StateFile,
  ) {}

  /** Reads the state file; a missing file is an empty state. 403 counts as missing (see ReadOptions). */
  static async read(store: ObjectStore, key: string, module: ModuleName): Promise<StateRef> {
    const stored = await store.readJson(key, { absentOn403: true });
    if (stored === undefined) return new StateRef(store, key, undefined, { module });
    const raw = stored.value;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as StateFile).module !== module) {
      throw new QexportError(
        'state',
        `state file ${store.describe(key)} is not a ${module} state object; move it aside to start over`,
      );
    }
    return new StateRef(store, key, stored.etag, raw as StateFile);
  }

  /** Whether the file existed when read (or has been written since). */
  get exists(): boolean {
    return this.etag !== undefined;
  }

  /**
   * Writes the current state if nobody else wrote since; otherwise throws `onConflict` (default LeaseLostError).
   * The value is serialised when the write starts, so callers mutate `state` only between awaits.
   */
  save(onConflict?: (err: PreconditionFailedError) => Error): Promise<void> {
    const write = this.queue.then(async () => {
      const text = JSON.stringify(this.state);
      const put = () => {
        const condition = this.etag === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: this.etag };
        return this.store.putJson(this.key, JSON.parse(text), condition);
      };
      try {
        this.etag = (await put()).etag;
        this.uncertain = undefined;
      } catch (err) {
        if (err instanceof PreconditionFailedError) {
          // An SDK retry of a write whose first attempt landed (its answer lost) fails its own condition: if the
          // stored state is exactly what we wrote, the write succeeded. If it is what an earlier write of ours
          // whose outcome was unknown wrote, that write landed: this one is retried on top of it.
          const stored = await this.store.readJson(this.key, { absentOn403: true });
          const storedText = stored && JSON.stringify(stored.value);
          if (stored && storedText === text) {
            this.etag = stored.etag;
            this.uncertain = undefined;
            return;
          }
          if (stored && this.uncertain !== undefined && storedText === this.uncertain) {
            this.etag = stored.etag;
            this.uncertain = undefined;
            this.etag = (await put()).etag;
            return;
          }
          throw onConflict
            ? onConflict(err)
            : new LeaseLostError(
                `${this.store.describe(this.key)} was changed by another writer; this invocation stopped without publishing`,
              );
        }
        if (!(err instanceof QexportError) && (err as { name?: string }).name !== 'AccessDenied') {
          // An error that does not say whether the write landed (a connection lost after the request was sent):
          // read it back. Landed: the write succeeded. Unreadable: remember it for the next write's condition.
          const stored = await this.store.readJson(this.key, { absentOn403: true }).catch(() => null);
          if (stored && JSON.stringify(stored.value) === text) {
            this.etag = stored.etag;
            this.uncertain = undefined;
            return;
          }
          if (stored === null) this.uncertain = text;
        }
        if ((err as { name?: string }).name === 'AccessDenied') {
          throw new QexportError(
            'state',
            `access denied writing ${this.store.describe(this.key)}: the exporter needs s3:PutObject (and s3:GetObject) on its state file`,
            { cause: err },
          );
        }
        throw err;
      }
    });
    this.queue = write.catch(() => undefined);
    return write;
  }
}
