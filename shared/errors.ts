/**
 * Typed errors shared by every layer. Messages must never contain tokens or secrets: build them from
 * method names, URLs (without query strings that may carry secrets) and status codes only.
 */
export class QexportError extends Error {
  /** Stable machine-readable code, e.g. `config`, `http`, `auth`, `origin`, `parse`, `resume-later`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Missing or malformed configuration. The message names the variable or flag. CLI exit code 2.
 * A parser that checks several values reports every problem at once: `problems` holds one message per bad
 * variable (the CLI prints one line each), `message` joins them with '; '.
 */
export class ConfigError extends QexportError {
  readonly problems: readonly string[];
  constructor(message: string | readonly string[]) {
    const problems = typeof message === 'string' ? [message] : [...message];
    super('config', problems.join('; '));
    this.problems = problems;
  }
}

/** A Qualys (or IdP) HTTP call failed for good: non-retryable status, or retries exhausted. */
export class QualysHttpError extends QexportError {
  readonly status: number | undefined;
  readonly url: string;
  /** The SIMPLE_RETURN code of a refusal (e.g. 2003, 2011), when the body carried one. */
  readonly apiCode: number | undefined;
  constructor(message: string, opts: { status?: number; url: string; cause?: unknown; apiCode?: number }) {
    super('http', message, { cause: opts.cause });
    this.status = opts.status;
    this.url = opts.url;
    this.apiCode = opts.apiCode;
  }
}

/** Obtaining, checking or storing a token failed. */
export class AuthError extends QexportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('auth', message, options);
  }
}

/** A URL taken from a response points outside the configured Qualys origin; the token was not sent. */
export class OriginError extends QexportError {
  constructor(message: string) {
    super('origin', message);
  }
}

/**
 * The outbound policy refused a response outright, before any of it was used: a redirect (3xx, never followed:
 * nothing is sent to its target) or a body larger than the configured bound. Final: asking again would get the
 * same answer, so it is never retried.
 */
export class PolicyError extends QexportError {
  readonly status: number | undefined;
  constructor(code: 'redirect' | 'too-large', message: string, status?: number) {
    super(code, message);
    this.status = status;
  }
}

/**
 * A streamed response body failed after its status arrived (a reset, a timeout mid-way). Transient: a pager that
 * reads a body as a stream resumes from the last record it handed over.
 */
export class StreamError extends QexportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('network', message, options);
  }
}

/** A response body could not be parsed (malformed or truncated JSON/XML, unexpected shape). */
export class ParseError extends QexportError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('parse', message, options);
  }
}

/**
 * The caller's deadline does not leave time to wait for the API (rate limit, backoff) or to finish the
 * work: stop cleanly, checkpoint, and resume in a later invocation. Not a failure.
 */
export class ResumeLaterError extends QexportError {
  /** How long the API asked us to wait, in ms, when known. */
  readonly waitMs: number | undefined;
  constructor(message: string, waitMs?: number) {
    super('resume-later', message);
    this.waitMs = waitMs;
  }
}

/**
 * A run could not be proven complete (a count disagrees, ids went backwards, totals never settled). The
 * message carries the numbers. `reread`: reading the run again from its start can fix it (the listing moved
 * while it was read); the engine then restarts the run under the same run id, a bounded number of times.
 */
export class IncompleteError extends QexportError {
  readonly checks: readonly {
    name: string;
    outcome: string;
    expected?: number;
    actual?: number;
    detail?: string;
  }[];
  readonly reread: boolean;
  constructor(
    message: string,
    opts: {
      checks?: readonly {
        name: string;
        outcome: string;
        expected?: number;
        actual?: number;
        detail?: string;
      }[];
      reread?: boolean;
    } = {},
  ) {
    super('incomplete', message);
    this.checks = opts.checks ?? [];
    this.reread = opts.reread ?? false;
  }
}

/** A conditional write lost: another writer changed the object first (S3 412 PreconditionFailed). */
export class PreconditionFailedError extends QexportError {
  constructor(message: string) {
    super('precondition', message);
  }
}

/**
 * An object that should hold JSON does not parse (a truncated or overwritten file). `etag` is the stored version,
 * so a deliberate replacement (state reset --all) can still be a compare-and-swap over exactly that object.
 */
export class InvalidJsonError extends QexportError {
  constructor(
    message: string,
    readonly etag: string,
    /** Characters stored. */
    readonly length: number,
  ) {
    super('store', message);
  }
}

export function isQexportError(err: unknown): err is QexportError {
  return err instanceof QexportError;
}
