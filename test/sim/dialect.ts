/**
 * Behaviours of the data endpoints that public documentation does not pin down (qualys-api.md, "Second look").
 * We do not know which one a tenant speaks, so each is switchable and the exporter is tested against all of them.
 * Every default is the first build's behaviour, except `edrOrder` (newest first unless `sort` asks otherwise).
 */
export interface SimDialect {
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
}

/** Allowed values of the string-valued keys (for the CLI and for clear errors). */
const CHOICES: Record<string, readonly string[]> = {
  edrOrder: ['newest-first-unless-sorted', 'ascending', 'newest-first', 'shuffled'],
  edrBody: ['object', 'array'],
  edrContinuation: ['body', 'header', 'x-header', 'none'],
  edrCount: ['present', 'absent', 'not-allowed', 'disagree'],
  pciFetchRange: ['full', 'short', 'ragged'],
  mobileIdMin: ['next', 'last', 'backwards'],
  certviewAssetType: ['ignored', 'managed-by-default'],
  certviewPaging: ['exact', 'filter-after-page'],
};
const INSERTS = ['pciInsertAfterFirstPage', 'certviewInsertAfterFirstPage'];
const FREE = ['mobileUrlHost', 'mobileUrlPath'];

/**
 * The CLI form `key=value,key=value`: e.g. `edrOrder=ascending,edrBody=array,edrContinuation=header`,
 * `pciInsertAfterFirstPage=3x2` (3 scans, twice), `certviewVersions=v2.1+v2.2`.
 */
export function parseDialectArg(arg: string): SimDialect {
  const out: Record<string, unknown> = {};
  for (const kv of arg.split(',').filter(Boolean)) {
    const eq = kv.indexOf('=');
    const k = kv.slice(0, eq);
    const v = kv.slice(eq + 1);
    if (eq <= 0 || !v) throw new Error(`--dialect: expected key=value, got '${kv}'`);
    if (k in CHOICES) {
      if (!CHOICES[k]!.includes(v))
        throw new Error(`--dialect: ${k} is one of ${CHOICES[k]!.join(', ')}, got '${v}'`);
      out[k] = v;
    } else if (INSERTS.includes(k)) {
      const m = /^(\d+)(?:x(\d+|Infinity))?$/.exec(v);
      if (!m) throw new Error(`--dialect: ${k} must look like COUNT or COUNTxTIMES, got '${v}'`);
      out[k] = { count: Number(m[1]), times: m[2] === undefined ? 1 : Number(m[2]) };
    } else if (k === 'certviewVersions') {
      out[k] = v.split('+');
    } else if (FREE.includes(k)) {
      out[k] = v;
    } else {
      throw new Error(
        `--dialect: unknown key '${k}' (one of ${[...Object.keys(CHOICES), ...INSERTS, 'certviewVersions', ...FREE].join(', ')})`,
      );
    }
  }
  if (out.edrBody === 'array' && (out.edrContinuation ?? 'body') === 'body') {
    throw new Error(
      '--dialect: edrBody=array has no room for a scrollId in the body; add edrContinuation=header',
    );
  }
  return out as SimDialect;
}
