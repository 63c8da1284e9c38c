/**
 * Dialects of the simulator: where public evidence leaves a choice open, each plausible answer is a switch, so the
 * client can be tested against every one (docs/simulator.md lists them). Auth and limit dialects first, then the
 * data endpoints' (DataDialect).
 */
import { xmlEscape, type EdrIdForm } from './data';

export interface AuthLimitDialect {
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

export interface SimDialect extends AuthLimitDialect, DataDialect {}

export const DEFAULT_DIALECT: Required<AuthLimitDialect> = {
  pciAuth: 'any',
  pciRequireApiVersion: false,
  oauthClients: 'shared',
  rateLimitBody: 'short',
  rateLimitWaitHeader: 'always',
  idpAccessToken: 'jwt',
  concurrencyHeader: 'X-Concurrency-Limit-Limit',
};

/** Every value each dialect switch takes (the CLI checks `--dialect` against it). */
export const DIALECT_VALUES: { [K in keyof AuthLimitDialect]-?: readonly Required<AuthLimitDialect>[K][] } = {
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

/**
 * Behaviours of the data endpoints that public documentation does not pin down (qualys-api.md, "Second look").
 * We do not know which one a tenant speaks, so each is switchable and the exporter is tested against all of them.
 * Every default is the first build's behaviour, except `edrOrder` (newest first unless `sort` asks otherwise).
 */
export interface DataDialect {
  /**
   * EDR event order. 'newest-first-unless-sorted' (default): honours `sort=[{"<time field>":"asc"|"desc"}]` and
   * is newest first without it. 'ascending': oldest first whatever `sort` says (the first build's simulator).
   * 'newest-first': newest first whatever `sort` says. 'shuffled': no order at all.
   */
  edrOrder?: 'newest-first-unless-sorted' | 'ascending' | 'newest-first' | 'shuffled';
  /** EDR body: `{"data":[…]}` (default) or a top-level JSON array. */
  edrBody?: 'object' | 'array';
  /**
   * Where the scroll continuation id comes back: the body's `scrollId` (default), a `scrollId` response header,
   * an `X-Scroll-Id` header, or 'none' (somewhere the exporter does not look). A top-level-array body has no room
   * for it in the body.
   */
  edrContinuation?: 'body' | 'header' | 'x-header' | 'none';
  /** `GET /ioc/events/count`: 'present' (default), 'absent' (404), 'not-allowed' (405), 'disagree' (one too many). */
  edrCount?: 'present' | 'absent' | 'not-allowed' | 'disagree';
  /**
   * The QQL name of the processing-time field the tenant knows (in a range and in `sort`): 'documented' (default)
   * `event.eventprocesstime`, as Qualys's EDR documentation spells it; 'camel' `event.eventProcessedTime` (the first
   * build's guess, after the response field); 'both'.
   */
  edrProcessedTimeField?: 'documented' | 'camel' | 'both';
  /**
   * A QQL field the tenant does not know, in a range or in `sort`: 'reject' (default: 400 naming it) or 'ignore'
   * (the term is dropped: the listing and the count are not filtered on time, and the sort is the default order).
   */
  edrUnknownField?: 'reject' | 'ignore';
  /**
   * `state`: 'ignored' (default) or 'filters': `state=true` lists (and counts) only active events (three in four),
   * `false` or none lists all. Any other value is 400.
   */
  edrState?: 'ignored' | 'filters';
  /** The form of event ids (test/sim/data.ts EdrIdForm): 'rtm' (default), 'per-day', 'agent-number'. */
  edrIdForm?: EdrIdForm;
  /**
   * 'none' (default) or 'served-twice': every 5th event is served twice in a row by a scroll (the same id and
   * content: a repeat, which `/count` counts once), so repeats fall inside pages and across page boundaries.
   */
  edrRepeat?: 'none' | 'served-twice';
  /**
   * The simulator's clock minus the real one, in seconds (default 0): its `Date` header says real time + skew, and
   * its "now" (EDR events become visible only once processed by it) is `edr.clock` (or real time) + skew.
   */
  clockSkewSeconds?: number;
  /**
   * PCI page length: 'full' (default: `limit` records), 'short' (at most half of `limit`, like the release 1.6.5
   * sample that answered `limit=10` with `fetchRange "1-5"`), 'ragged' (1..limit, varying with the offset).
   */
  pciFetchRange?: 'full' | 'short' | 'ragged';
  /** `count` new scans appear at the front of the PCI list right after a page at offset 1 is answered (`times`, default 1). */
  pciInsertAfterFirstPage?: { count: number; times?: number };
  /** Origin the Mobile truncation URL names (default: the simulator's own), e.g. another Qualys host. */
  mobileUrlHost?: string;
  /** Path the Mobile truncation URL names (default `/sem/v1/assetList`). */
  mobileUrlPath?: string;
  /**
   * `id_min` of the Mobile truncation URL: the next asset's id (default), the batch's last id (that asset is sent
   * again at the top of the next batch), or 'backwards' (two assets before the last: ids go down).
   */
  mobileIdMin?: 'next' | 'last' | 'backwards';
  /**
   * How `detection_updated_since` / `detection_updated_before` select assets (since inclusive, before exclusive).
   * 'changed-detections' (default, our reading of the sibling VM Host List Detection API): an asset is listed when at
   * least one of its detections was updated in the window, with only those detections. 'whole-asset': the same
   * assets, each with all its detections. 'ignored': the parameters change nothing (every asset, whole).
   */
  mobileUpdatedFilter?: 'changed-detections' | 'whole-asset' | 'ignored';
  /**
   * What the truncation URL carries: 'kept' (default: every parameter of the request, with id_min moved on) or
   * 'dropped' (only id_min, action and truncation_limit, as in the documented sample).
   */
  mobileUrlFilters?: 'kept' | 'dropped';
  /** CertView API versions served (default `['v1', 'v2']`); any other version's path answers 404. */
  certviewVersions?: string[];
  /**
   * 'ignored' (default): every certificate is listed. 'managed-by-default': certificates on unmanaged assets are
   * listed only with `assetType` ALL (or UNMANAGED), as related CertView endpoints default to managed assets.
   */
  certviewAssetType?: 'ignored' | 'managed-by-default';
  /**
   * 'exact' (default): full pages to the end. 'filter-after-page': the server pages first, then drops certificates
   * the user may not see, so pages in the middle of the listing come back short.
   */
  certviewPaging?: 'exact' | 'filter-after-page';
  /** `count` new certificates appear at the front right after page 0 is answered (`times`, default 1). */
  certviewInsertAfterFirstPage?: { count: number; times?: number };
  /**
   * Integers beyond 2^53 in the JSON modules: PCI scanIds and CertView ids 2^60 above their usual values, and every
   * EDR event an `eventSequence` near 2^63 (JSON numbers that JSON.parse would round). Default false.
   */
  bigNumbers?: boolean;
  /** Host List Detection API versions served (default 2.0 to 5.0); 5.0 and later add UNIQUE_VULN_ID. */
  vmdrVersions?: string[];
  /** KnowledgeBase API versions served (default 2.0 to 4.0). */
  kbVersions?: string[];
  /**
   * `id_min` of a Host List Detection or KB truncation URL: the next record's id ('next', default), the last id + 1
   * ('last-plus-one'), the last id ('last': that record comes again at the top of the next response), two before
   * the last ('backwards'), or 'split': the last host of a full page carries the first half of its detections and
   * comes again at the top of the next page with the rest (a host split across pages).
   */
  xmlIdMin?: 'next' | 'last-plus-one' | 'last' | 'backwards' | 'split';
  /**
   * What those truncation URLs carry: every parameter of the request, POST body included ('all', default), only
   * action and id_min ('id-min-only'), or all but truncation_limit ('no-truncation-limit', as a 2014 sample).
   */
  xmlUrlParams?: 'all' | 'id-min-only' | 'no-truncation-limit';
  /** `vm_processed_after/before` and `last_modified_after`: both bounds 'inclusive' (default) or 'exclusive'. */
  xmlDateBounds?: 'inclusive' | 'exclusive';
  /** Text elements Qualys sends as CDATA (OS, DNS, RESULTS, TITLE, …): 'cdata' (default) or escaped 'text'. */
  xmlText?: 'cdata' | 'text';
  /** The KnowledgeBase truncates after this many VULNs with a WARNING (0, default: never). */
  kbTruncation?: number;
  /** VULN order: 'ascending' by QID (default) or 'unordered' (pairs swapped: the order breaks at once). */
  kbOrder?: 'ascending' | 'unordered';
  /** What the API server accepts: Basic or a bearer token ('basic-or-bearer', default), or 'basic-only'. */
  vmAuth?: 'basic-or-bearer' | 'basic-only';
}

/** Allowed values of the string-valued keys (for the CLI and for clear errors). */
const CHOICES: Record<string, readonly string[]> = {
  edrOrder: ['newest-first-unless-sorted', 'ascending', 'newest-first', 'shuffled'],
  edrBody: ['object', 'array'],
  edrContinuation: ['body', 'header', 'x-header', 'none'],
  edrCount: ['present', 'absent', 'not-allowed', 'disagree'],
  edrProcessedTimeField: ['documented', 'camel', 'both'],
  edrUnknownField: ['reject', 'ignore'],
  edrState: ['ignored', 'filters'],
  edrIdForm: ['rtm', 'per-day', 'agent-number'],
  edrRepeat: ['none', 'served-twice'],
  pciFetchRange: ['full', 'short', 'ragged'],
  mobileIdMin: ['next', 'last', 'backwards'],
  mobileUpdatedFilter: ['changed-detections', 'whole-asset', 'ignored'],
  mobileUrlFilters: ['kept', 'dropped'],
  certviewAssetType: ['ignored', 'managed-by-default'],
  certviewPaging: ['exact', 'filter-after-page'],
  xmlIdMin: ['next', 'last-plus-one', 'last', 'backwards', 'split'],
  xmlUrlParams: ['all', 'id-min-only', 'no-truncation-limit'],
  xmlDateBounds: ['inclusive', 'exclusive'],
  xmlText: ['cdata', 'text'],
  kbOrder: ['ascending', 'unordered'],
  vmAuth: ['basic-or-bearer', 'basic-only'],
};
const INSERTS = ['pciInsertAfterFirstPage', 'certviewInsertAfterFirstPage'];
const FLAGS = ['bigNumbers'];
const FREE = ['mobileUrlHost', 'mobileUrlPath'];
/** Whole numbers, negative allowed. */
const NUMBERS = ['clockSkewSeconds'];
const VERSION_LISTS = ['certviewVersions', 'vmdrVersions', 'kbVersions'];
const DATA_KEYS = [
  ...Object.keys(CHOICES),
  ...INSERTS,
  ...VERSION_LISTS,
  'kbTruncation',
  ...FREE,
  ...FLAGS,
  ...NUMBERS,
];

/**
 * The CLI form `key=value,key=value`, auth/limit and data keys alike: e.g. `pciAuth=documented`,
 * `edrOrder=ascending,edrBody=array,edrContinuation=header`, `pciInsertAfterFirstPage=3x2` (3 scans, twice),
 * `certviewVersions=v2.1+v2.2`. Unknown keys or values are refused, naming the allowed ones.
 */
export function parseDialectArg(arg: string | undefined): SimDialect {
  const out: Record<string, unknown> = {};
  for (const kv of (arg ?? '').split(',').filter(Boolean)) {
    const eq = kv.indexOf('=');
    const k = kv.slice(0, eq);
    const v = kv.slice(eq + 1);
    if (eq <= 0 || !v)
      throw new Error(
        `--dialect: expected key=value with a key among ${[...Object.keys(DEFAULT_DIALECT), ...DATA_KEYS].join(', ')}, got '${kv}'`,
      );
    if (k in DIALECT_VALUES) {
      const allowed = DIALECT_VALUES[k as keyof AuthLimitDialect] as readonly unknown[];
      const value = allowed.find((a) => String(a) === v);
      if (value === undefined)
        throw new Error(`--dialect: ${k} must be one of ${allowed.join(', ')}, got '${v}'`);
      out[k] = value;
    } else if (k in CHOICES) {
      if (!CHOICES[k]!.includes(v))
        throw new Error(`--dialect: ${k} is one of ${CHOICES[k]!.join(', ')}, got '${v}'`);
      out[k] = v;
    } else if (INSERTS.includes(k)) {
      const m = /^(\d+)(?:x(\d+|Infinity))?$/.exec(v);
      if (!m) throw new Error(`--dialect: ${k} must look like COUNT or COUNTxTIMES, got '${v}'`);
      out[k] = { count: Number(m[1]), times: m[2] === undefined ? 1 : Number(m[2]) };
    } else if (FLAGS.includes(k)) {
      if (v !== 'true' && v !== 'false') throw new Error(`--dialect: ${k} is true or false, got '${v}'`);
      out[k] = v === 'true';
    } else if (VERSION_LISTS.includes(k)) {
      out[k] = v.split('+');
    } else if (k === 'kbTruncation') {
      if (!/^\d+$/.test(v)) throw new Error(`--dialect: kbTruncation must be a whole number, got '${v}'`);
      out[k] = Number(v);
    } else if (FREE.includes(k)) {
      out[k] = v;
    } else if (NUMBERS.includes(k)) {
      if (!/^[+-]?\d{1,9}$/.test(v)) throw new Error(`--dialect: ${k} must be a whole number, got '${v}'`);
      out[k] = Number(v);
    } else {
      throw new Error(
        `--dialect: unknown key '${k}' (one of ${[...Object.keys(DEFAULT_DIALECT), ...DATA_KEYS].join(', ')})`,
      );
    }
  }
  checkDialect(out as SimDialect, '--dialect');
  return out as SimDialect;
}

/** Refuses combinations the simulator cannot speak; `where` names the source in the message. */
export function checkDialect(d: SimDialect, where: string): void {
  if (d.edrBody === 'array' && (d.edrContinuation ?? 'body') === 'body') {
    throw new Error(
      `${where}: edrBody=array has no room for a scrollId in the body; set edrContinuation=header`,
    );
  }
}
