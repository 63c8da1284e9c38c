/**
 * The declared envelope of every endpoint the exporter reads, in the vocabulary of ./shapes.ts. What each field
 * means and where the evidence for it is: /work/shared/reference/qualys-api.md (and docs/api-assumptions.md).
 * A record's own fields are not declared here (records are written whole); only what the exporter relies on:
 * the record identity, the paging fields, the totals.
 */
import { any, empty, id, int, list, obj, oneOf, opt, str, type EndpointShape } from './shapes';

/** `1-5`: PCI's inclusive fetchRange. */
const RANGE = /^\s*\d+\s*-\s*\d+\s*$/;
/** An EDR time as the API writes it: `2020-08-17T04:15:06.000+0000`, or ISO with Z / +00:00. */
export const EDR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/;

const pciScan = obj({ scanId: id() });

export const PCI_SCAN_LIST: EndpointShape = {
  what: 'PCI scan list',
  body: obj({
    responseApiVersion: opt(str()),
    data: obj({
      totalCount: int({ min: 0 }),
      fetchRange: opt(str({ pattern: RANGE, about: "a range such as '1-10'" })),
      scanInfoList: opt(list(pciScan)),
    }),
  }),
  refine: [
    (v) => {
      const d = (v as { data: { totalCount: number; scanInfoList?: unknown; fetchRange?: string } }).data;
      // A page that names a non-empty range must carry its scans: "missing" is never "empty".
      const m = d.fetchRange ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(d.fetchRange) : null;
      if (m && Number(m[2]) >= Number(m[1]) && d.scanInfoList === undefined) {
        return `data.scanInfoList: missing while fetchRange '${d.fetchRange}' names scans`;
      }
      return undefined;
    },
  ],
};

export const CERTVIEW_CERTIFICATES: EndpointShape = {
  what: 'CertView certificate list',
  body: list(obj({})),
};

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
      obj({ data: events, scrollId: opt(str()) }),
    ),
  };
}

export const EDR_COUNT: EndpointShape = {
  what: 'EDR events count',
  body: oneOf('a count (an integer ≥ 0, or {"count": n})', int({ min: 0 }), obj({ count: int({ min: 0 }) })),
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

/** An IdP's OAuth2 token answer (RFC 6749 §5.1). */
export const IDP_TOKEN: EndpointShape = {
  what: 'IdP token response',
  body: obj({
    access_token: str({ nonEmpty: true }),
    expires_in: opt(int({ min: 0 })),
    token_type: opt(str()),
  }),
};
