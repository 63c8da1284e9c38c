import { ConfigError } from '../../shared/errors';
import { redact } from '../../shared/log';

/** Error codes of network failures worth naming (Node's, undici's and OpenSSL's). */
const NETWORK_CODE =
  /^(E[A-Z]+|UND_ERR_[A-Z_]+|ERR_TLS_[A-Z_]+|CERT_[A-Z_]+|UNABLE_TO_[A-Z_]+|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_SSL_[A-Z_]+)$/;

/** The innermost code along an error's `cause` chain (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED …). */
export function causeCode(err: unknown): string | undefined {
  let found: string | undefined;
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && NETWORK_CODE.test(code)) found = code;
    // AggregateError (happy eyeballs: one error per address) carries the codes in `errors`.
    const errors = (e as { errors?: unknown }).errors;
    if (!found && Array.isArray(errors)) {
      for (const x of errors) {
        const c = causeCode(x);
        if (c) {
          found = c;
          break;
        }
      }
    }
    e = (e as { cause?: unknown }).cause;
  }
  return found;
}

/** What a network error code means, in words (Node's, undici's and OpenSSL's codes a user meets). */
export function describeNetworkCode(code: string): string | undefined {
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'host not found (DNS)';
  if (code === 'EAI_AGAIN') return 'DNS lookup failed (temporary)';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'connection timed out';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'response timed out';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'network unreachable';
  if (code === 'CERT_HAS_EXPIRED') return 'TLS certificate expired';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'TLS certificate does not name this host';
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN')
    return 'TLS certificate is self-signed';
  if (code.startsWith('UNABLE_TO_') || code.startsWith('CERT_')) return 'TLS certificate not trusted';
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO') return 'TLS handshake failed';
  return undefined;
}

/**
 * One line for an error: its message with line breaks folded and secrets masked; when the message is only
 * the generic "fetch failed" (or does not name the cause), the cause is added, in words and as its code
 * ("connection refused, ECONNREFUSED").
 */
export function oneLine(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  let msg = raw.replace(/\s*\n\s*/g, ' ').trim();
  const code = causeCode(err);
  const words = code ? describeNetworkCode(code) : undefined;
  if (code && !msg.includes(code)) msg += ` (${words ? `${words}, ` : ''}${code})`;
  else if (code && words && !msg.includes(words)) msg = msg.replace(`(${code})`, `(${words}, ${code})`);
  return redact(msg);
}

/** The lines the CLI prints for an error: one per configuration problem, otherwise exactly one. */
export function errorLines(err: unknown): string[] {
  if (err instanceof ConfigError) return err.problems.map((p) => redact(p.replace(/\s*\n\s*/g, ' ')));
  return [oneLine(err)];
}

export interface S3Where {
  bucket: string;
  /** The key being read or written, when known. */
  key?: string;
  /** AWS_ENDPOINT_URL_S3 when set. */
  endpoint?: string;
}

const REJECTED_CREDENTIALS = new Set([
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'InvalidToken',
  'TokenRefreshRequired',
  'UnrecognizedClientException',
]);

/**
 * An AWS setup problem behind an S3 error, as one line naming the fix, or undefined when the error is not
 * one (a 5xx, a dropped upload: those are export failures, not configuration).
 */
export function s3SetupProblem(err: unknown, where: S3Where, depth = 0): string | undefined {
  if (!err || typeof err !== 'object' || depth > 5) return undefined;
  return setupProblemOf(err, where) ?? s3SetupProblem((err as { cause?: unknown }).cause, where, depth + 1);
}

function setupProblemOf(err: object, where: S3Where): string | undefined {
  const e = err as {
    name?: string;
    message?: string;
    code?: unknown;
    Code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  // The engine's own wording for a state file it may not write already names the permission.
  if (e.code === 'state' && /^access denied/i.test(e.message ?? '')) return e.message;
  const name = e.Code ?? e.name ?? '';
  const message = e.message ?? '';
  const status = e.$metadata?.httpStatusCode;
  const object = where.key ? `s3://${where.bucket}/${where.key}` : `s3://${where.bucket}`;
  if (/region is missing/i.test(message)) {
    return "AWS region is not set: set AWS_REGION to the bucket's region (e.g. AWS_REGION=eu-west-1) or add one to your AWS profile";
  }
  if (name === 'CredentialsProviderError' || /could not load credentials/i.test(message)) {
    return (
      'no AWS credentials found: set AWS_PROFILE (after `aws configure` or `aws sso login`), ' +
      'or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY'
    );
  }
  if (REJECTED_CREDENTIALS.has(name)) {
    return `AWS rejected the credentials (${name}): refresh them (e.g. \`aws sso login\`) or check AWS_PROFILE / AWS_ACCESS_KEY_ID`;
  }
  if (name === 'NoSuchBucket') {
    return `bucket '${where.bucket}' does not exist: check --out s3://${where.bucket}/… (and AWS_REGION, AWS_ENDPOINT_URL_S3)`;
  }
  if (name === 'PermanentRedirect' || name === 'AuthorizationHeaderMalformed' || status === 301) {
    return `bucket '${where.bucket}' is in another region: set AWS_REGION to the bucket's region`;
  }
  if (name === 'AccessDenied' || name === 'AllAccessDisabled' || status === 403) {
    return (
      `access denied to ${object}: the AWS identity needs s3:GetObject and s3:PutObject on ` +
      '<prefix>/_state/*, s3:PutObject and s3:DeleteObject on <prefix>/<module>/*, s3:PutObject on ' +
      '<prefix>/manifests/* and s3:ListBucket on the bucket (S3 answers 403 for a missing key without ' +
      'ListBucket); see docs/deploy.md'
    );
  }
  const code = causeCode(err) ?? (name === 'TimeoutError' ? 'timeout' : undefined);
  if (code && (code.startsWith('E') || code === 'timeout' || code.startsWith('UND_ERR'))) {
    const at = where.endpoint ? ` at ${where.endpoint}` : '';
    return (
      `cannot reach S3${at} (${code}): check AWS_ENDPOINT_URL_S3, AWS_REGION and the network ` +
      '(the AWS SDK does not use HTTPS_PROXY; reach S3 directly or through a VPC endpoint)'
    );
  }
  return undefined;
}
