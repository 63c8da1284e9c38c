import { InvalidJsonError, PreconditionFailedError, QexportError } from '../errors';
import type { ModuleDef } from '../modules/types';
import type { ObjectStore, StoredJson } from '../sink/types';
import { stateError, StateDamagedError, validateState } from './state-shape';
import type { Lease, StateFile } from './types';

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
 * S3's answer when a request is refused by a policy (IAM, the bucket policy, an SCP, a VPC endpoint policy, the
 * KMS key's). Other 403s (InvalidAccessKeyId, SignatureDoesNotMatch, ExpiredToken) are credential problems.
 */
const accessDenied = (err: unknown): boolean => (err as { name?: string }).name === 'AccessDenied';

/** Where to look when the state file cannot be read or written: the permissions that decide it, in order. */
const STATE_ACCESS_CAUSES =
  "the exporter's role needs s3:GetObject and s3:PutObject on that key, and kms:Decrypt and kms:GenerateDataKey " +
  "on the bucket's KMS key when the bucket uses SSE-KMS with a customer-managed key (context bucketKmsKeyArn; the " +
  'key policy must allow it too); a bucket policy, a service control policy, a permissions boundary or a VPC ' +
  'endpoint policy can also deny it';

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
  /** The text of the state as last read or written (what the heartbeat renews). */
  private written: string | undefined;

  private constructor(
    private readonly store: ObjectStore,
    readonly key: string,
    private etag: string | undefined,
    readonly state: StateFile,
  ) {
    if (etag !== undefined) this.written = JSON.stringify(state);
  }

  /** A state that replaces a damaged file: written over exactly the version `etag` (compare-and-swap). */
  static over(store: ObjectStore, key: string, etag: string, state: StateFile): StateRef {
    return new StateRef(store, key, etag, state);
  }

  /**
   * Reads the state file; a missing file is an empty state. 403 counts as missing (see ReadOptions). A file that is
   * not JSON, or does not fit the declared shape (state-shape.ts), is refused: StateDamagedError naming the field.
   */
  static async read(store: ObjectStore, key: string, module: ModuleDef): Promise<StateRef> {
    const r = await StateRef.inspect(store, key, module);
    if (r.damage) throw r.damage;
    return r.ref;
  }

  /**
   * Reads the state file without throwing for damage: the StateRef when it is sound, else the damage and the
   * version of the damaged object (for `state show`, and for `state reset --all`, which replaces it by
   * compare-and-swap).
   */
  static async inspect(
    store: ObjectStore,
    key: string,
    module: ModuleDef,
  ): Promise<
    { ref: StateRef; damage?: undefined } | { ref?: undefined; damage: StateDamagedError; etag: string }
  > {
    const where = store.describe(key);
    let stored: StoredJson | undefined;
    try {
      stored = await store.readJson(key, { absentOn403: true });
    } catch (err) {
      if (!(err instanceof InvalidJsonError)) throw err;
      const problem = `it is not JSON (${err.length} characters: truncated, or overwritten with something else)`;
      return { damage: stateError(where, problem, 'state', { module: module.name }), etag: err.etag };
    }
    if (stored === undefined) return { ref: new StateRef(store, key, undefined, { module: module.name }) };
    try {
      const state = validateState(stored.value, module, where);
      return { ref: new StateRef(store, key, stored.etag, state) };
    } catch (err) {
      if (err instanceof StateDamagedError) return { damage: err, etag: stored.etag };
      throw err;
    }
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
    return this.write(() => JSON.stringify(this.state), onConflict);
  }

  /**
   * Renews the lease in the state as last written (not in the state as it is in memory now, which may be ahead of
   * what its journal holds): the heartbeat of a long page must not write a checkpoint. Nothing is written when the
   * last write released the lease.
   */
  renew(lease: Lease): Promise<void> {
    return this.write(() => {
      const last = JSON.parse(this.written ?? JSON.stringify(this.state)) as StateFile;
      if (!last.lease || last.lease.owner !== lease.owner) return undefined;
      return JSON.stringify({ ...last, lease: { ...last.lease, expiresAt: lease.expiresAt } });
    });
  }

  /** One queued compare-and-swap write of the text `make` gives when its turn comes (undefined: nothing). */
  private write(make: () => string | undefined, onConflict?: (err: PreconditionFailedError) => Error) {
    const write = this.queue.then(async () => {
      const text = make();
      if (text === undefined) return;
      const put = () => {
        const condition = this.etag === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: this.etag };
        return this.store.putJson(this.key, JSON.parse(text), condition);
      };
      try {
        this.etag = (await put()).etag;
        this.written = text;
        this.uncertain = undefined;
      } catch (err) {
        if (err instanceof PreconditionFailedError) {
          // An SDK retry of a write whose first attempt landed (its answer lost) fails its own condition: if the
          // stored state is exactly what we wrote, the write succeeded. If it is what an earlier write of ours
          // whose outcome was unknown wrote, that write landed: this one is retried on top of it. The condition
          // failing proves the file exists, so a 403 on reading it now is a permission problem, never "another
          // writer".
          let stored;
          try {
            stored = await this.store.readJson(this.key);
          } catch (readErr) {
            if (!accessDenied(readErr)) throw readErr;
            throw new QexportError(
              'state',
              `access denied reading the state file ${this.store.describe(this.key)}, which exists: ${STATE_ACCESS_CAUSES}. Nothing was written.`,
              { cause: readErr },
            );
          }
          const storedText = stored && JSON.stringify(stored.value);
          if (stored && storedText === text) {
            this.etag = stored.etag;
            this.written = text;
            this.uncertain = undefined;
            return;
          }
          if (stored && this.uncertain !== undefined && storedText === this.uncertain) {
            this.etag = stored.etag;
            this.uncertain = undefined;
            this.etag = (await put()).etag;
            this.written = text;
            return;
          }
          throw onConflict
            ? onConflict(err)
            : new LeaseLostError(
                `${this.store.describe(this.key)} was changed by another writer; this invocation stopped without publishing`,
              );
        }
        if (!(err instanceof QexportError) && !accessDenied(err)) {
          // An error that does not say whether the write landed (a connection lost after the request was sent):
          // read it back. Landed: the write succeeded. Unreadable: remember it for the next write's condition.
          const stored = await this.store.readJson(this.key, { absentOn403: true }).catch(() => null);
          if (stored && JSON.stringify(stored.value) === text) {
            this.etag = stored.etag;
            this.written = text;
            this.uncertain = undefined;
            return;
          }
          if (stored === null) this.uncertain = text;
        }
        if (accessDenied(err)) {
          throw new QexportError(
            'state',
            `access denied writing the state file ${this.store.describe(this.key)}: ${STATE_ACCESS_CAUSES}`,
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
