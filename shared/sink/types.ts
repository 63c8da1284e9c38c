import type { Readable } from 'node:stream';

/** A JSON object as read, with the version tag a conditional write compares against. */
export interface StoredJson {
  value: unknown;
  /** S3's ETag (quoted), or the directory store's content hash. */
  etag: string;
}

/**
 * Conditions for a compare-and-swap write, as S3 PutObject supports them: `ifNoneMatch: '*'` creates only when
 * the key does not exist; `ifMatch` replaces only the version read. A lost race throws PreconditionFailedError.
 */
export interface WriteCondition {
  ifMatch?: string;
  ifNoneMatch?: '*';
}

export interface ReadOptions {
  /**
   * Treat 403 AccessDenied as "absent". S3 answers a missing key with 403 instead of 404 when the caller may
   * not list that prefix; only safe when a later conditional create (`ifNoneMatch: '*'`) settles the truth.
   */
  absentOn403?: boolean;
}

/**
 * Where exported objects go: S3 (multipart via lib-storage) or a local directory with the same key layout.
 * Keys are '/'-separated, relative to the bucket (or directory) root.
 */
export interface ObjectStore {
  /** Streams `body` to `key`. The object becomes visible only when the promise resolves (no torn objects). */
  putStream(key: string, body: Readable, contentType: string, contentEncoding?: string): Promise<void>;
  /** Writes `value` as one line of JSON (readable by line-oriented JSON readers such as Athena's SerDe). */
  putJson(key: string, value: unknown, condition?: WriteCondition): Promise<{ etag: string }>;
  /** undefined when the key does not exist. */
  readJson(key: string, opts?: ReadOptions): Promise<StoredJson | undefined>;
  /** The value only; undefined when the key does not exist. */
  getJson(key: string): Promise<unknown | undefined>;
  /** Every key under `prefix` (a '/'-terminated folder), in no particular order. */
  list(prefix: string): Promise<string[]>;
  /** Deletes the keys (absent keys are not an error). */
  delete(keys: readonly string[]): Promise<void>;
  /** A human-readable location, e.g. s3://bucket/key or /abs/path. */
  describe(key: string): string;
}

export interface PartInfo {
  key: string;
  records: number;
  /** Compressed bytes as stored. */
  bytes: number;
  /** Uncompressed NDJSON bytes. */
  rawBytes: number;
  /** Hex SHA-256 of the stored (compressed) object. */
  sha256: string;
}
