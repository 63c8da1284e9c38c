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
      const condition = this.etag === undefined ? { ifNoneMatch: '*' as const } : { ifMatch: this.etag };
      const text = JSON.stringify(this.state);
      try {
        const { etag } = await this.store.putJson(this.key, JSON.parse(text), condition);
        this.etag = etag;
      } catch (err) {
        if (err instanceof PreconditionFailedError) {
          // An SDK retry of a write whose first attempt landed (its answer lost) fails its own condition:
          // if the stored state is exactly what we wrote, the write succeeded. The condition failing proves the
          // file exists, so a 403 on reading it now is a permission problem, never "another writer".
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
          if (stored && JSON.stringify(stored.value) === text) {
            this.etag = stored.etag;
            return;
          }
          throw onConflict
            ? onConflict(err)
            : new LeaseLostError(
                `${this.store.describe(this.key)} was changed by another writer; this invocation stopped without publishing`,
              );
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
