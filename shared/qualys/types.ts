/** Contract of the Qualys HTTP client (implemented in ./client.ts). */
import type { ClockReading } from './clock';
import type { BodyLimits } from '../net/policy';

/** Supplies bearer tokens. `refresh` is called at most once per request, after a 401. */
export interface TokenProvider {
  getToken(): Promise<string>;
  /** Obtain a fresh token (in AWS: invoke the token-refresh Lambda with {force:true}). */
  refresh(): Promise<string>;
}

/**
 * How requests to one origin are authenticated. Gateway APIs take a bearer token (refreshed once on a 401);
 * PCI Merchant takes its own account over HTTP Basic or an IdP-issued bearer token. `unconfigured` makes every
 * request to that origin fail with a ConfigError naming what to set (a run of gateway modules needs no PCI
 * credentials, and the other way round).
 */
export type RequestAuth =
  | { scheme: 'bearer'; tokens: TokenProvider }
  | { scheme: 'basic'; username: string; password: string }
  | { scheme: 'unconfigured'; message: string };

/** The configured Qualys origins: the gateway, PCI Merchant, and the API server (VM/KB XML APIs). */
export type QualysTarget = 'gateway' | 'pci' | 'api';

export interface QualysRequest {
  method?: 'GET' | 'POST';
  /** Absolute URL, or a path resolved against `baseUrl`. */
  url: string;
  /** Which configured origin a relative url is resolved against (and whose auth it carries). Default 'gateway'. */
  base?: QualysTarget;
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON-serialised when an object; sent as is when a string. */
  body?: unknown;
  /**
   * Form fields sent as an `application/x-www-form-urlencoded` body (with POST): the Qualys API server takes every
   * parameter this way, which keeps long queries out of the URL (414 Request-URI Too Long).
   */
  form?: Record<string, string>;
  /** Overrides the client's per-request timeout (ms), e.g. for an endpoint whose pages take minutes. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** Sets Accept: application/json | application/xml | text/plain. Default json. */
  accept?: 'json' | 'xml' | 'text';
  /** Human label for errors and counters, e.g. 'pci-scans page 3'. */
  label?: string;
  /**
   * Overrides the retry budget for this request (all kinds of failure). 0 for requests that are not safe to
   * repeat, such as a scroll continuation whose server-side position may already have advanced.
   */
  maxRetries?: number;
  /** Statuses handed to `parse` as if they were 2xx (e.g. 404 from an endpoint a tenant may not offer). */
  acceptStatuses?: readonly number[];
}

export interface QualysResponse {
  status: number;
  headers: Headers;
  url: string;
  text: string;
}

/**
 * A 2xx body read as it arrives (large XML pages): status, auth, pacing, retries and waits happened exactly as for
 * `call` before the body was read. `chunks` are UTF-8 text pieces (a character split between network chunks is
 * carried over), under the same policy as a whole body (size bounds, charset, strict UTF-8); a stall longer than
 * the request timeout aborts the read. An error while reading is thrown from the iterator: PolicyError (the body
 * is too large) is final; a ParseError (not UTF-8) or a StreamError (a reset or a stall mid-way) may be retried by
 * the caller, which decides where to resume. The request's concurrency slot is held until `chunks` is consumed to its
 * end, fails, or `cancel()` is called: a caller must do one of these.
 */
export interface QualysStream {
  status: number;
  headers: Headers;
  url: string;
  chunks: AsyncIterable<string>;
  cancel(): void;
}

/** A wait the client is about to sit through (rate limit, pacing, backoff): what the CLI shows while it lasts. */
export interface WaitNotice {
  /** The request's label, e.g. 'pci-scans offset 11'. */
  label: string;
  /** Why, e.g. '409 (code 1965: rate limit), SECONDS_TO_WAIT says 86274 s'. */
  reason: string;
  ms: number;
  /** Epoch ms when the wait ends. */
  until: number;
}

export interface ClientStats {
  /** HTTP requests sent (including retries and the 401 replay). */
  calls: number;
  retries: number;
  /** Total ms spent waiting (backoff + rate-limit waits). */
  waitMs: number;
  rateLimited: number;
  tokenRefreshes: number;
  /** Calls held back by pacing (the rate reserve), and the ms spent holding them (included in waitMs). */
  paced: number;
  pacedMs: number;
}

export interface QualysClient {
  /** Sends a request with auth, retries and guards; resolves with a 2xx response. */
  request(req: QualysRequest): Promise<QualysResponse>;
  /**
   * Sends the request and parses the body with `parse`; a ParseError from `parse` (malformed or truncated
   * body) is retried like a transient failure, up to the retry budget.
   */
  call<T>(req: QualysRequest, parse: (res: QualysResponse) => T): Promise<T>;
  /** Sends the request like `call` and resolves with the 2xx body as a stream of text (see QualysStream). */
  openStream(req: QualysRequest): Promise<QualysStream>;
  /** Throws OriginError unless `url` is on a configured origin (https, or http on loopback). */
  assertSameOrigin(url: string): URL;
  stats(): ClientStats;
  /** What the `Date` headers of the responses so far say about the server's clock (see ./clock.ts). */
  clock(): ClockReading;
}

export interface ClientOptions {
  /** Gateway origin; absent when no gateway credentials/platform are configured (a PCI-only run). */
  gatewayUrl?: string;
  pciUrl: string;
  /** API server origin (`qualysapi…`: VMDR host detections, KnowledgeBase); absent when no module needs it. */
  apiUrl?: string;
  fetch: typeof fetch;
  /** Gateway bearer tokens: shorthand for `auth.gateway = {scheme: 'bearer', tokens}`. */
  tokens?: TokenProvider;
  /**
   * Per-origin auth. Without `auth.pci`, PCI requests carry the gateway's auth (only the simulator's lenient
   * dialect accepts that; the production wiring in shared/app/build-client.ts always sets it).
   */
  auth?: { gateway?: RequestAuth; pci?: RequestAuth; api?: RequestAuth };
  /** Calls left in a rate window below which calls are spread over the rest of it (QUALYS_RATE_RESERVE); default 10. */
  rateReserve?: number;
  /** Wait after a 1965 that states no wait, even on a repeated blocked call; default 3601 s. */
  rateLimitFallbackMs?: number;
  timeoutMs: number;
  maxRetries: number;
  /** Max requests in flight at once. */
  concurrency: number;
  /** Epoch ms after which no wait may end; waits that would pass it throw ResumeLaterError. */
  deadline?: () => number;
  /** Body bounds (QEXPORT_MAX_RESPONSE_BYTES, QEXPORT_MAX_DECODED_BYTES); default DEFAULT_BODY_LIMITS. */
  limits?: BodyLimits;
  /**
   * The longest wait (rate limit, pacing, backoff) sat through in this process (QEXPORT_MAX_WAIT_SECONDS); a longer
   * one throws ResumeLaterError with the wait, so the caller checkpoints and continues later. Default: no bound.
   */
  maxWaitMs?: number;
  /** Told about each wait before it starts (the CLI shows it). */
  onWait?: (w: WaitNotice) => void;
  /** Injected for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  /** Base backoff delay, default 500 ms; cap default 30 s. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}
