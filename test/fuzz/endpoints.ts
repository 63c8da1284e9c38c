/**
 * The endpoints the trust-boundary fuzz suite mutates, as declarations: an endpoint joins the suite by being listed
 * here (the mutations are generic over its format).
 */
import type { ModuleName } from '../../shared/config';

export type Format = 'json' | 'xml' | 'text';

/** What a mutation kind cannot be caught by on this endpoint, and why: it is then run for safety, not for recovery. */
export type Blind = Partial<Record<string, string>>;

export interface FuzzEndpoint {
  name: string;
  /** The export that exercises it (any export does, for the token endpoints). */
  module: ModuleName;
  format: Format;
  /** Whether a reply belongs to this endpoint. */
  match(path: string, query: URLSearchParams): boolean;
  /** JSON: where the records are in a body (undefined when it has none, e.g. a count). */
  records?: (body: unknown) => Record<string, unknown>[] | undefined;
  /** XML: the element that is one record. */
  recordElement?: string;
  /** A record's identity field. */
  id?: string;
  /** JSON: envelope members as paths (['data', 'totalCount']); XML: envelope element names. */
  envelope: string[][];
  /** How the export authenticates when this endpoint is one of its auth paths. */
  auth?: 'jwks' | 'idp';
  /** Mutations whose effect this endpoint's proof cannot see (no count): checked for safety only. */
  blind?: Blind;
}

const NO_COUNT =
  'the API gives no count of the listing, so a page that lost records reads as a listing that shrank (a documented limit)';

const jsonList = (at: (b: Record<string, unknown>) => unknown) => (body: unknown) => {
  const list = Array.isArray(body)
    ? body
    : body && typeof body === 'object'
      ? at(body as Record<string, unknown>)
      : undefined;
  return Array.isArray(list) ? (list as Record<string, unknown>[]) : undefined;
};

/** A VMDR Mobile batch: the first one, or one reached through a truncation URL (it names id_min). */
function mobile(name: string, truncation: boolean): FuzzEndpoint {
  return {
    name,
    module: 'mobile-assets',
    format: 'xml',
    match: (p, q) => p === '/sem/v1/assetList' && q.has('id_min') === truncation,
    recordElement: 'ASSET',
    id: 'ID',
    envelope: [['RESPONSE'], ['DATETIME'], ['ASSET_LIST'], ['WARNING'], ['URL']],
    blind: {
      'list-drop': NO_COUNT,
      'list-truncate': NO_COUNT,
      'xml-drop:WARNING': 'a batch without WARNING is the last one: the API has no other end marker',
    },
  };
}

/**
 * An API-server listing (host detections, the KnowledgeBase). Its parameters go in a POST form, so a reply is
 * matched by path alone; at the suite's size (23 records, default truncation) each run is one response.
 */
function apiListing(
  name: string,
  module: ModuleName,
  path: RegExp,
  recordElement: string,
  id: string,
  list: string,
): FuzzEndpoint {
  return {
    name,
    module,
    format: 'xml',
    match: (p) => path.test(p),
    recordElement,
    id,
    envelope: [['RESPONSE'], ['DATETIME'], [list]],
    blind: {
      'list-drop': NO_COUNT,
      'list-truncate': NO_COUNT,
      [`xml-drop:${list}`]: `${NO_COUNT}; a response without ${list} is how the API answers an empty listing`,
    },
  };
}

/** An EDR events page: the scroll opened, or continued with a scroll id. */
function edrPage(name: string, continuation: boolean): FuzzEndpoint {
  return {
    name,
    module: 'edr-events',
    format: 'json',
    match: (p, q) => p === '/ioc/events/scroll' && q.has('scrollId') === continuation,
    records: jsonList((b) => b.data),
    id: 'id',
    envelope: [['data'], ['scrollId']],
  };
}

export const FUZZ_ENDPOINTS: FuzzEndpoint[] = [
  {
    name: 'PCI scan list',
    module: 'pci-scans',
    format: 'json',
    match: (p) => p === '/pci/scan/list',
    records: jsonList((b) => (b.data as Record<string, unknown> | undefined)?.scanInfoList),
    id: 'scanId',
    envelope: [
      ['responseApiVersion'],
      ['data'],
      ['data', 'totalCount'],
      ['data', 'fetchRange'],
      ['data', 'scanInfoList'],
    ],
  },
  {
    name: 'CertView certificates',
    module: 'certview-certificates',
    format: 'json',
    match: (p) => p.startsWith('/certview/'),
    records: jsonList(() => undefined),
    id: 'id',
    envelope: [],
    blind: { 'list-drop': NO_COUNT, 'list-truncate': NO_COUNT, 'list-empty': NO_COUNT },
  },
  edrPage('EDR scroll (open)', false),
  edrPage('EDR scroll (continuation)', true),
  {
    name: 'EDR count',
    module: 'edr-events',
    format: 'json',
    match: (p) => p === '/ioc/events/count',
    envelope: [['count']],
  },
  mobile('VMDR Mobile (first batch)', false),
  mobile('VMDR Mobile (truncation batch)', true),
  apiListing(
    'VMDR host detections',
    'vmdr-detections',
    /^\/api\/[\d.]+\/fo\/asset\/host\/vm\/detection\/?$/,
    'HOST',
    'ID',
    'HOST_LIST',
  ),
  apiListing(
    'KnowledgeBase',
    'knowledgebase',
    /^\/api\/[\d.]+\/fo\/knowledge_base\/vuln\/?$/,
    'VULN',
    'QID',
    'VULN_LIST',
  ),
  {
    name: 'gateway token (/auth/oidc)',
    module: 'certview-certificates',
    format: 'text',
    match: (p) => p === '/auth/oidc',
    envelope: [],
  },
  {
    name: 'IdP token',
    module: 'certview-certificates',
    format: 'json',
    match: (p) => p === '/oauth2/token',
    envelope: [['access_token'], ['expires_in'], ['token_type']],
    auth: 'idp',
  },
  {
    name: 'JWKS',
    module: 'certview-certificates',
    format: 'json',
    match: (p) => p === '/.well-known/jwks.json',
    envelope: [['keys']],
    auth: 'jwks',
  },
];
