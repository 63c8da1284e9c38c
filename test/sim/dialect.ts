/**
 * Auth and limit dialects of the simulator: where public evidence leaves a choice open, each plausible
 * answer is a switch, so the client can be tested against every one (docs/simulator.md lists them).
 */
import { xmlEscape } from './data';

export interface SimDialect {
  /**
   * What PCI Merchant accepts. `any` (default): its own Basic accounts, IdP JWTs and gateway JWTs (the lenient
   * union). `documented`: Basic accounts and IdP-issued JWTs only; a gateway token gets 401 (PCI user guide).
   * `bearer-only`: any simulator JWT, no Basic (the first build's behaviour).
   */
  pciAuth?: 'any' | 'documented' | 'bearer-only';
  /** PCI requests without the header `apiVersion: V1` get 400 (default false). */
  pciRequireApiVersion?: boolean;
  /**
   * `shared` (default): /auth/oidc and /auth/oauth accept both the user-level and the subscription-level client.
   * `split`: /auth/oidc only the user-level client, /auth/oauth only the subscription-level one (as documented).
   */
  oauthClients?: 'shared' | 'split';
  /**
   * The 409 1965 body. `short` (default): "Please wait N seconds…". `documented`: the real text ("…for another
   * 23 hours, 57 minutes and 54 seconds") with `<ITEM_LIST>…SECONDS_TO_WAIT…`. `bare`: the real text only.
   */
  rateLimitBody?: 'short' | 'documented' | 'bare';
  /**
   * When a blocked answer carries `X-RateLimit-ToWait-Sec`. `always` (default); `repeat`: only on a repeated
   * blocked call (as qualysdk reports); `never`.
   */
  rateLimitWaitHeader?: 'always' | 'repeat' | 'never';
  /** What the IdP's token endpoint answers as access_token: `jwt` (default) or an `opaque` random string. */
  idpAccessToken?: 'jwt' | 'opaque';
  /** Spelling of the concurrency headers: the common one (default) or VMDR Mobile's sample's. */
  concurrencyHeader?: 'X-Concurrency-Limit-Limit' | 'X-ConcurrencyLimit-Limit';
}

export const DEFAULT_DIALECT: Required<SimDialect> = {
  pciAuth: 'any',
  pciRequireApiVersion: false,
  oauthClients: 'shared',
  rateLimitBody: 'short',
  rateLimitWaitHeader: 'always',
  idpAccessToken: 'jwt',
  concurrencyHeader: 'X-Concurrency-Limit-Limit',
};

/** Every value each dialect switch takes (the CLI checks `--dialect` against it). */
export const DIALECT_VALUES: { [K in keyof SimDialect]-?: readonly Required<SimDialect>[K][] } = {
  pciAuth: ['any', 'documented', 'bearer-only'],
  pciRequireApiVersion: [false, true],
  oauthClients: ['shared', 'split'],
  rateLimitBody: ['short', 'documented', 'bare'],
  rateLimitWaitHeader: ['always', 'repeat', 'never'],
  idpAccessToken: ['jwt', 'opaque'],
  concurrencyHeader: ['X-Concurrency-Limit-Limit', 'X-ConcurrencyLimit-Limit'],
};

/** Documented SIMPLE_RETURN texts of 409 codes that no wait fixes (seen in public client tests). */
export const ACCOUNT_CODE_TEXT: Record<number, string> = {
  2003: 'Registration must be completed before API requests will be served for this account',
  2011: 'SecureID authentication is required for this account, so API access is blocked',
};

/** "23 hours, 57 minutes and 54 seconds" */
export function spellDuration(totalSec: number): string {
  const h = Math.floor(totalSec / 3600);
  const m = Math.floor((totalSec % 3600) / 60);
  const s = totalSec % 60;
  const parts = [
    h ? `${h} hour${h === 1 ? '' : 's'}` : '',
    m ? `${m} minute${m === 1 ? '' : 's'}` : '',
    `${s} second${s === 1 ? '' : 's'}`,
  ].filter(Boolean);
  return parts.length > 1 ? `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)}` : parts[0]!;
}

/** A SIMPLE_RETURN with an optional ITEM_LIST (the shape of the documented 1965 answer). */
export function simpleReturnWithItems(
  code: number,
  text: string,
  items: Record<string, string | number> = {},
): string {
  const list = Object.entries(items)
    .map(([k, v]) => `<ITEM><KEY>${xmlEscape(k)}</KEY><VALUE>${xmlEscape(String(v))}</VALUE></ITEM>`)
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8" ?>\n' +
    '<!DOCTYPE SIMPLE_RETURN SYSTEM "https://qualysapi.qualys.com/api/2.0/simple_return.dtd">\n' +
    `<SIMPLE_RETURN><RESPONSE><DATETIME>${new Date().toISOString()}</DATETIME><CODE>${code}</CODE>` +
    `<TEXT>${xmlEscape(text)}</TEXT>${list ? `<ITEM_LIST>${list}</ITEM_LIST>` : ''}</RESPONSE></SIMPLE_RETURN>\n`
  );
}

/** The 1965 text and items for a dialect. */
export function rateLimitBody(
  dialect: SimDialect['rateLimitBody'],
  waitSec: number,
): { text: string; items: Record<string, number> } {
  if (dialect === 'documented' || dialect === 'bare') {
    const text = `This API cannot be run again for another ${spellDuration(waitSec)}.`;
    return { text, items: dialect === 'documented' ? { SECONDS_TO_WAIT: waitSec } : {} };
  }
  return {
    text: `API rate limit exceeded. Please wait ${waitSec} seconds before making another request.`,
    items: {},
  };
}
