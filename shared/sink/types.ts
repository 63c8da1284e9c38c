import type { Readable } from 'node:stream';

/**
 * Where exported objects go: S3 (multipart via lib-storage) or a local directory with the same key layout.
 * Keys are '/'-separated, relative to the bucket (or directory) root.
 */
export interface ObjectStore {
  /** Streams `body` to `key`. The object becomes visible only when the promise resolves (no torn objects). */
  putStream(key: string, body: Readable, contentType: string, contentEncoding?: string): Promise<void>;
  putJson(key: string, value: unknown): Promise<void>;
  /** undefined when the key does not exist. */
  getJson(key: string): Promise<unknown | undefined>;
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
