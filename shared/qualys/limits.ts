/**
 * Reading Qualys signals from responses: SIMPLE_RETURN codes and texts, the SECONDS_TO_WAIT item, and the
 * rate/concurrency headers. Pure functions; what to *do* with them lives in ./responses.ts (the table).
 */

const NUMBER = /^\d+(\.\d+)?$/;

/** Parses Retry-After (seconds or HTTP date) into ms; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const v = value.trim();
  if (NUMBER.test(v)) return Math.round(Number(v) * 1000);
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** `X-RateLimit-ToWait-Sec` in ms when present and numeric (0 included). */
export function headerToWaitMs(headers: Headers): number | undefined {
  const v = headers.get('x-ratelimit-towait-sec')?.trim();
  return v && NUMBER.test(v) ? Math.round(Number(v) * 1000) : undefined;
}

function decodeXmlText(raw: string): string {
  const cdata = /^\s*<!\[CDATA\[([\s\S]*?)\]\]>\s*$/.exec(raw);
  if (cdata) return cdata[1]!;
  return raw
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCodePoint(Number(n)))
    .replace(/&amp;/g, '&');
}

/**
 * SIMPLE_RETURN CODE from an error body: XML `<CODE>n</CODE>` or JSON `"code": n`, e.g. 1960 (concurrency),
 * 1965 (rate), 2003 (registration incomplete), 2011 (SecureID blocked).
 */
export function simpleReturnCode(body: string): number | undefined {
  const m = /<CODE>\s*(\d+)\s*<\/CODE>/.exec(body) ?? /"code"\s*:\s*"?(\d+)/i.exec(body);
  return m ? Number(m[1]) : undefined;
}

/** SIMPLE_RETURN TEXT (XML `<TEXT>`, or JSON `message`/`text`), whitespace collapsed; undefined when absent. */
export function simpleReturnText(body: string): string | undefined {
  const x = /<TEXT>([\s\S]*?)<\/TEXT>/.exec(body);
  let text: string | undefined;
  if (x) text = decodeXmlText(x[1]!);
  else {
    try {
      const j = JSON.parse(body) as { message?: unknown; text?: unknown };
      const v = j.message ?? j.text;
      if (typeof v === 'string') text = v;
    } catch {
      // not JSON
    }
  }
  const flat = text?.replace(/\s+/g, ' ').trim();
  return flat || undefined;
}

/**
 * The `SECONDS_TO_WAIT` item of a 1965 body, in ms:
 * `<ITEM_LIST><ITEM><KEY>SECONDS_TO_WAIT</KEY><VALUE>68928</VALUE></ITEM></ITEM_LIST>` (JSON spellings
 * `"SECONDS_TO_WAIT": n` and `{"key":"SECONDS_TO_WAIT","value":n}` are accepted too). The TEXT is never read
 * for a number: the real one says "23 hours, 57 minutes and 54 seconds".
 */
export function secondsToWaitMs(body: string): number | undefined {
  const m =
    /<KEY>\s*(?:<!\[CDATA\[)?\s*SECONDS_TO_WAIT\s*(?:\]\]>)?\s*<\/KEY>\s*<VALUE>\s*(?:<!\[CDATA\[)?\s*(\d+(?:\.\d+)?)\s*(?:\]\]>)?\s*<\/VALUE>/i.exec(
      body,
    ) ??
    /"SECONDS_TO_WAIT"\s*:\s*"?(\d+(?:\.\d+)?)/i.exec(body) ??
    /"key"\s*:\s*"SECONDS_TO_WAIT"\s*,\s*"value"\s*:\s*"?(\d+(?:\.\d+)?)/i.exec(body);
  return m ? Math.round(Number(m[1]) * 1000) : undefined;
}

/** The rate and concurrency state a response reports (any field may be missing). */
export interface LimitHeaders {
  limit?: number;
  remaining?: number;
  windowSec?: number;
  toWaitSec?: number;
  /** `X-Concurrency-Limit-Limit`, or VMDR Mobile's spelling `X-ConcurrencyLimit-Limit`. */
  concurrency?: number;
}

function intHeader(headers: Headers, ...names: string[]): number | undefined {
  for (const n of names) {
    const v = headers.get(n)?.trim();
    if (v && /^\d+$/.test(v)) return Number(v);
  }
  return undefined;
}

export function readLimitHeaders(headers: Headers): LimitHeaders {
  return {
    limit: intHeader(headers, 'x-ratelimit-limit'),
    remaining: intHeader(headers, 'x-ratelimit-remaining'),
    windowSec: intHeader(headers, 'x-ratelimit-window-sec'),
    toWaitSec: intHeader(headers, 'x-ratelimit-towait-sec'),
    concurrency: intHeader(headers, 'x-concurrency-limit-limit', 'x-concurrencylimit-limit'),
  };
}
