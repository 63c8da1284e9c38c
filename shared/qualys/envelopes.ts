/**
 * The declared envelope of every endpoint the exporter reads, in the vocabulary of ./shapes.ts. What each field
 * means and where the evidence for it is: /work/shared/reference/qualys-api.md (and docs/api-assumptions.md).
 * A record's own fields are not declared here (records are written whole); only what the exporter relies on:
 * the record identity, the paging fields, the totals.
 */
import { empty, id, int, list, obj, oneOf, opt, str, type EndpointShape } from './shapes';

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

/** VMDR Mobile asset list: ASSET_LIST_VM_DETECTION_OUTPUT/RESPONSE/{DATETIME, ASSET_LIST?, WARNING?} [doc]. */
export const MOBILE_ASSET_LIST: EndpointShape = {
  what: 'VMDR Mobile asset list',
  body: obj({
    ASSET_LIST_VM_DETECTION_OUTPUT: obj({
      RESPONSE: obj({
        DATETIME: opt(str()),
        ASSET_LIST: opt(oneOf('an asset list', empty(), obj({ ASSET: list(obj({ ID: id() })) }))),
        WARNING: opt(obj({ CODE: opt(str()), TEXT: opt(str()), URL: opt(str()) })),
      }),
    }),
  }),
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
