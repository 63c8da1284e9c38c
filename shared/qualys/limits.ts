/** Reading Qualys rate/concurrency signals from responses. */

/** Parses Retry-After (seconds or HTTP date) into ms; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** The minimum wait the API asked for, in ms: X-RateLimit-ToWait-Sec, then Retry-After, then a 1965 TEXT. */
export function requestedWaitMs(headers: Headers, body: string, now: number): number | undefined {
  const toWait = headers.get('x-ratelimit-towait-sec');
  if (toWait && /^\d+(\.\d+)?$/.test(toWait.trim())) return Math.round(Number(toWait) * 1000);
  const ra = parseRetryAfter(headers.get('retry-after'), now);
  if (ra !== undefined) return ra;
  const m = /(\d+)\s*seconds?/i.exec(body);
  if (m && /1965/.test(body)) return Number(m[1]) * 1000;
  return undefined;
}

/** SIMPLE_RETURN CODE from a 409 body (XML or JSON), e.g. 1960 (concurrency) or 1965 (rate). */
export function simpleReturnCode(body: string): number | undefined {
  const m = /<CODE>\s*(\d+)\s*<\/CODE>/.exec(body) ?? /"code"\s*:\s*"?(\d+)/i.exec(body);
  return m ? Number(m[1]) : undefined;
}
