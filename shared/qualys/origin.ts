import { OriginError } from '../errors';

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/i;

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}

/** https anywhere, http only on loopback (tests and the simulator). */
export function isAllowedScheme(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname));
}

/**
 * Throws OriginError unless `raw` is an absolute URL on one of `origins` (scheme, host and port equal) over an
 * allowed scheme. The message names the offending origin only (no path or query, which may carry ids).
 */
export function assertAllowedOrigin(raw: string, origins: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OriginError(`refusing to follow a malformed URL from a Qualys response`);
  }
  if (!isAllowedScheme(url)) {
    throw new OriginError(
      `refusing to send the Qualys token over ${url.protocol}//${url.host}: https is required`,
    );
  }
  if (!origins.includes(url.origin)) {
    throw new OriginError(
      `refusing to follow a URL on ${url.origin}: it is not the configured Qualys origin (${origins.join(', ')}); ` +
        'the token was not sent',
    );
  }
  return url;
}
