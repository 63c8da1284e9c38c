/**
 * The declared envelope of every endpoint the exporter reads, in the vocabulary of ./shapes.ts. What each field
 * means and where the evidence for it is: /work/shared/reference/qualys-api.md (and docs/api-assumptions.md).
 * A record's own fields are not declared here (records are written whole); only what the exporter relies on:
 * the record identity, the paging fields, the totals.
 */
import { any, count, empty, id, int, list, obj, oneOf, opt, str, type EndpointShape } from './shapes';

/** An EDR time as the API writes it: `2020-08-17T04:15:06.000+0000`, or ISO with Z / +00:00. */
export const EDR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/;

/** A scan's identity: an integer [doc sample], kept whole beyond 2^53 (a bigint), never a string. */
const pciScan = obj({ scanId: int({ min: 0 }) });

export const PCI_SCAN_LIST: EndpointShape = {
  what: 'PCI scan list',
  body: obj({
    responseApiVersion: opt(str()),
    data: obj({
      totalCount: count(),
      // Only '1-10' is documented; another spelling is not refused, just not relied on (the scans returned decide).
      fetchRange: opt(str()),
      scanInfoList: opt(list(pciScan)),
    }),
  }),
  refine: [
    (v) => {
      const d = (v as { data: { totalCount: number; scanInfoList?: unknown; fetchRange?: string } }).data;
      if (d.scanInfoList !== undefined || d.totalCount === 0) return undefined;
      // "Missing" is never "empty": a page may leave the list out only where its range names no scan ('11-10').
      const m = d.fetchRange ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(d.fetchRange) : null;
      if (m && Number(m[2]) < Number(m[1])) return undefined;
      return d.fetchRange
        ? `data.scanInfoList: missing while fetchRange '${d.fetchRange}' names scans`
        : `data.scanInfoList: missing while totalCount is ${d.totalCount} (and no fetchRange says the page is empty)`;
    },
  ],
};

/** A certificate is identified by its `id` [doc sample]: one without is not read (it could not be deduplicated). */
export const CERTVIEW_CERTIFICATES: EndpointShape = {
  what: 'CertView certificate list',
  body: list(obj({ id: id() })),
};

/**
 * A continuation id is opaque, but it is sent back in a query string: printable ASCII without spaces, at most
 * 4 KiB ('' = none).
 */
export const SCROLL_ID = str({
  pattern: /^[\x21-\x7e]{0,4096}$/,
  about: 'an opaque id (printable ASCII, ≤ 4096)',
});

const edrEvent = (timeKey: string) =>
  obj({ id: str({ nonEmpty: true }), [timeKey]: str({ pattern: EDR_TIME }) });

/** EDR events: a top-level array [recorded][code] or `{"data":[…], "scrollId"?}` [doc][ours]. */
export function edrEvents(timeKey: string): EndpointShape {
  const events = list(edrEvent(timeKey));
  return {
    what: 'EDR events response',
    body: oneOf(
      'a JSON array of events or an object with a data array',
      events,
      obj({ data: events, scrollId: opt(SCROLL_ID) }),
    ),
  };
}

export const EDR_COUNT: EndpointShape = {
  what: 'EDR events count',
  body: oneOf('a count (an integer ≥ 0, or {"count": n})', count(), obj({ count: count() })),
};

/** The truncation WARNING of the Qualys XML APIs: CODE 1980, TEXT, URL (CDATA or text) [doc][code]. */
const XML_WARNING = opt(obj({ CODE: opt(str()), TEXT: opt(str()), URL: opt(str()) }));

/** A `*_LIST` element: absent, empty, or holding its records (the XML reader makes them a list). */
const xmlList = (about: string, element: string, record: ReturnType<typeof obj>) =>
  opt(oneOf(about, empty(), obj({ [element]: list(record) })));

/** VMDR Mobile asset list: ASSET_LIST_VM_DETECTION_OUTPUT/RESPONSE/{DATETIME, ASSET_LIST?, WARNING?} [doc]. */
export const MOBILE_ASSET_LIST: EndpointShape = {
  what: 'VMDR Mobile asset list',
  body: obj({
    ASSET_LIST_VM_DETECTION_OUTPUT: obj({
      RESPONSE: obj({
        DATETIME: opt(str()),
        ASSET_LIST: xmlList('an asset list', 'ASSET', obj({ ID: id() })),
        WARNING: XML_WARNING,
      }),
    }),
  }),
};

/**
 * VMDR Host List Detection: HOST_LIST_VM_DETECTION_OUTPUT/{REQUEST?, RESPONSE/{DATETIME, HOST_LIST?, WARNING?}}; each
 * HOST has an ID and (hosts without detections are left out) a DETECTION_LIST of DETECTIONs with a QID
 * [code Elastic XSD, qualysdk; qualys-vmdr-kb.md §1.4].
 */
export const VMDR_HOST_DETECTIONS: EndpointShape = {
  what: 'VMDR host list detection',
  body: obj({
    HOST_LIST_VM_DETECTION_OUTPUT: obj({
      REQUEST: opt(any()),
      RESPONSE: obj({
        DATETIME: opt(str()),
        HOST_LIST: xmlList(
          'a host list',
          'HOST',
          obj({ ID: id(), DETECTION_LIST: xmlList('a detection list', 'DETECTION', obj({ QID: id() })) }),
        ),
        WARNING: XML_WARNING,
      }),
    }),
  }),
};

/**
 * KnowledgeBase: KNOWLEDGE_BASE_VULN_LIST_OUTPUT/{REQUEST?, RESPONSE/{DATETIME, VULN_LIST?, WARNING?}}; each VULN has
 * a QID [doc KB; code Elastic XSD; qualys-vmdr-kb.md §2.3]. An ID_SET is the answer to details=None: with
 * details=All it would mean the QIDs came without their details, so it is refused, never read as "no VULN".
 */
export const KB_VULN_LIST: EndpointShape = {
  what: 'KnowledgeBase vulnerability list',
  body: obj({
    KNOWLEDGE_BASE_VULN_LIST_OUTPUT: obj({
      REQUEST: opt(any()),
      RESPONSE: obj({
        DATETIME: opt(str()),
        VULN_LIST: xmlList('a vulnerability list', 'VULN', obj({ QID: id() })),
        WARNING: XML_WARNING,
      }),
    }),
  }),
  refine: [
    (v) => {
      const r = (v as { KNOWLEDGE_BASE_VULN_LIST_OUTPUT: { RESPONSE: Record<string, unknown> } })
        .KNOWLEDGE_BASE_VULN_LIST_OUTPUT.RESPONSE;
      return r.ID_SET !== undefined
        ? 'KNOWLEDGE_BASE_VULN_LIST_OUTPUT.RESPONSE.ID_SET: present (the answer to details=None) where details=All was asked'
        : undefined;
    },
  ],
};

/** An IdP's OAuth2 token answer (RFC 6749 §5.1). Some IdPs write expires_in as a string of digits. */
export const IDP_TOKEN: EndpointShape = {
  what: 'IdP token response',
  body: obj({
    access_token: str({ nonEmpty: true }),
    expires_in: opt(
      oneOf('a number of seconds', int({ min: 0 }), str({ pattern: /^\d{1,10}$/, about: 'digits' })),
    ),
    token_type: opt(str()),
  }),
};

/** A JSON Web Key Set (RFC 7517 §5): the keys jose verifies a token's signature with. */
export const JWKS: EndpointShape = {
  what: 'JWKS',
  body: obj({ keys: list(obj({ kty: str({ nonEmpty: true }) })) }),
};
