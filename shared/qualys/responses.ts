/**
 * How the client reacts to what comes back is data: one ordered table of rows, each a predicate over an
 * observation (a response, a network error, an unreadable body) and the action to take. The first row that
 * matches wins; the last row matches everything. The client (./client.ts) and the token requests
 * (../auth/obtain.ts) read this table instead of branching on statuses themselves, and the unit tests walk
 * every row. (The idea of response filters mapped to actions comes from declarative connector frameworks; the
 * rows are ours, from qualys-api.md.)
 */
import { headerToWaitMs, parseRetryAfter, secondsToWaitMs, simpleReturnCode } from './limits';

/** How a request was authenticated: a bearer token can be refreshed after a 401, Basic credentials cannot. */
export type AuthScheme = 'bearer' | 'basic' | 'none';

export type NetworkErrorKind = 'timeout' | 'reset' | 'refused' | 'dns' | 'other';

export type Observation =
  | {
      type: 'response';
      status: number;
      headers: Headers;
      text: string;
      auth: AuthScheme;
      /** Statuses the caller declared acceptable for this request (e.g. 404 for an optional endpoint). */
      acceptStatuses?: readonly number[];
    }
  | { type: 'network'; kind: NetworkErrorKind }
  /** A 2xx whose body the caller's parser refused (malformed, truncated, wrong shape). */
  | { type: 'unreadable' };

/** Where a wait can come from, in the order a row lists them. */
export type WaitSource = 'SECONDS_TO_WAIT' | 'X-RateLimit-ToWait-Sec' | 'Retry-After';

export type Action =
  /** Hand the response to the caller's parser. */
  | { do: 'accept' }
  /** Transient: back off (exponential, full jitter) and retry; a Retry-After / ToWait header is a floor. */
  | { do: 'retry' }
  /**
   * Blocked by a limit: wait what the first source present says. Without any: `backoff` = exponential
   * backoff; `probe-then-fallback` = one short backoff to see a repeated blocked call (which may carry the
   * header), then the configured fallback wait (default 3601 s).
   */
  | {
      do: 'wait';
      limit: 'rate' | 'concurrency';
      sources: readonly WaitSource[];
      otherwise: 'backoff' | 'probe-then-fallback';
    }
  /** Bearer token rejected: refresh it once and replay; a second 401 fails. */
  | { do: 'refresh-and-replay' }
  /** Final: no retry can fix it. `kind` picks the error type and the message. */
  | { do: 'fail'; kind: 'auth' | 'account' | 'http' };

export interface ResponseRule {
  /** Stable row id (tests and docs/api-assumptions.md refer to it). */
  id: string;
  /** What the row means, for the docs and for messages. */
  says: string;
  when: (o: Observation) => boolean;
  action: Action;
}

const status = (o: Observation): number | undefined => (o.type === 'response' ? o.status : undefined);
const code = (o: Observation): number | undefined =>
  o.type === 'response' ? simpleReturnCode(o.text) : undefined;
const hasWaitHeader = (o: Observation): boolean =>
  o.type === 'response' &&
  ((headerToWaitMs(o.headers) ?? 0) > 0 || parseRetryAfter(o.headers.get('retry-after'), 0) !== undefined);

const WAIT_SOURCES: readonly WaitSource[] = ['SECONDS_TO_WAIT', 'X-RateLimit-ToWait-Sec', 'Retry-After'];

/** The table, in order. The client never decides outside it. */
export const RESPONSE_TABLE: readonly ResponseRule[] = [
  {
    id: 'network-timeout',
    says: 'the request or its body timed out',
    when: (o) => o.type === 'network' && o.kind === 'timeout',
    action: { do: 'retry' },
  },
  {
    id: 'network-error',
    says: 'the connection was reset, refused or failed',
    when: (o) => o.type === 'network',
    action: { do: 'retry' },
  },
  {
    id: 'unreadable-body',
    says: 'a 2xx whose body is malformed or truncated',
    when: (o) => o.type === 'unreadable',
    action: { do: 'retry' },
  },
  {
    id: 'accepted-status',
    says: 'a status the caller declared acceptable for this request',
    when: (o) => o.type === 'response' && (o.acceptStatuses ?? []).includes(o.status),
    action: { do: 'accept' },
  },
  {
    id: 'success',
    says: '2xx',
    when: (o) => (status(o) ?? 0) >= 200 && (status(o) ?? 0) < 300,
    action: { do: 'accept' },
  },
  {
    id: 'unauthorized-bearer',
    says: '401 on a bearer token (expired, revoked): refresh once and replay',
    when: (o) => o.type === 'response' && o.status === 401 && o.auth === 'bearer',
    action: { do: 'refresh-and-replay' },
  },
  {
    id: 'unauthorized-basic',
    says: '401 on Basic credentials: no refresh can fix it',
    when: (o) => status(o) === 401,
    action: { do: 'fail', kind: 'auth' },
  },
  {
    id: 'concurrency-limit',
    says: '409 SIMPLE_RETURN 1960: too many calls in flight',
    when: (o) => status(o) === 409 && code(o) === 1960,
    action: { do: 'wait', limit: 'concurrency', sources: WAIT_SOURCES, otherwise: 'backoff' },
  },
  {
    id: 'rate-limit',
    says: '409 SIMPLE_RETURN 1965: calls per window used up',
    when: (o) => status(o) === 409 && code(o) === 1965,
    action: { do: 'wait', limit: 'rate', sources: WAIT_SOURCES, otherwise: 'probe-then-fallback' },
  },
  {
    id: 'gateway-rate-limit',
    says: '429 from a gateway API',
    when: (o) => status(o) === 429,
    action: { do: 'wait', limit: 'rate', sources: WAIT_SOURCES, otherwise: 'backoff' },
  },
  {
    id: 'limit-without-code',
    says: '409 without a SIMPLE_RETURN code but with a wait header',
    when: (o) => status(o) === 409 && code(o) === undefined && hasWaitHeader(o),
    action: { do: 'wait', limit: 'rate', sources: WAIT_SOURCES, otherwise: 'backoff' },
  },
  {
    id: 'account-refused',
    says: 'any other 409 (e.g. 2003 registration incomplete, 2011 SecureID blocked): no wait fixes it',
    when: (o) => status(o) === 409,
    action: { do: 'fail', kind: 'account' },
  },
  {
    id: 'request-timeout',
    says: '408 request timeout',
    when: (o) => status(o) === 408,
    action: { do: 'retry' },
  },
  {
    id: 'server-error',
    says: '5xx (503 maintenance included)',
    when: (o) => (status(o) ?? 0) >= 500,
    action: { do: 'retry' },
  },
  {
    id: 'client-error',
    says: '400, 403, 404 and every other 4xx: the request itself is wrong',
    when: (o) => (status(o) ?? 0) >= 400,
    action: { do: 'fail', kind: 'http' },
  },
  {
    id: 'unexpected',
    says: 'anything else (1xx, 3xx): not a response the client can use',
    when: () => true,
    action: { do: 'fail', kind: 'http' },
  },
];

export function classify(o: Observation, table: readonly ResponseRule[] = RESPONSE_TABLE): ResponseRule {
  for (const rule of table) if (rule.when(o)) return rule;
  throw new Error('the response table has no catch-all row');
}

/** The wait a response asks for, from the first of `sources` it carries, with where it came from. */
export function requestedWait(
  o: Observation,
  sources: readonly WaitSource[],
  now: number,
): { ms: number; source: WaitSource } | undefined {
  if (o.type !== 'response') return undefined;
  for (const source of sources) {
    const ms =
      source === 'SECONDS_TO_WAIT'
        ? secondsToWaitMs(o.text)
        : source === 'X-RateLimit-ToWait-Sec'
          ? headerToWaitMs(o.headers)
          : parseRetryAfter(o.headers.get('retry-after'), now);
    // A ToWait of 0 on a blocked answer says nothing useful: look further.
    if (ms !== undefined && ms > 0) return { ms, source };
  }
  return undefined;
}

/** Classifies a thrown fetch error. */
export function networkErrorKind(err: unknown): NetworkErrorKind {
  const e = err as { name?: string; code?: string; cause?: { code?: string; name?: string } } | undefined;
  if (e?.name === 'TimeoutError' || e?.cause?.name === 'TimeoutError') return 'timeout';
  const c = e?.cause?.code ?? e?.code ?? '';
  if (/ECONNRESET|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED/.test(c)) return 'reset';
  if (/ECONNREFUSED/.test(c)) return 'refused';
  if (/ENOTFOUND|EAI_AGAIN/.test(c)) return 'dns';
  if (/TIMEOUT/i.test(c)) return 'timeout';
  return 'other';
}
