/**
 * Typed configuration. ONE parser turns environment variables (and CLI flags, which the CLI maps onto the
 * same variable names) into these types, with a clear ConfigError naming the variable for every missing or
 * malformed value. Entry points call the parser; the core only ever receives these objects.
 *
 * Environment variable names (used by the CLI, Lambda and docs alike) are listed in ENV below.
 */
import { ConfigError } from './errors';
import { DEFAULT_BODY_LIMITS } from './net/policy';
import { logLevelProblem, secretLengthProblem } from './log';

export const MODULES = [
  'pci-scans',
  'certview-certificates',
  'edr-events',
  'mobile-assets',
  'vmdr-detections',
  'knowledgebase',
] as const;
export type ModuleName = (typeof MODULES)[number];

export const AUTH_METHODS = [
  'qualys-oidc',
  'qualys-oauth',
  'qualys-basic',
  'idp-password',
  'idp-client-credentials',
] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** PCI Merchant's own auth: its account over HTTP Basic (default), or an IdP-issued JWT after onboarding. */
export const PCI_AUTH_METHODS = ['basic', 'idp-password', 'idp-client-credentials'] as const;
export type PciAuthMethod = (typeof PCI_AUTH_METHODS)[number];

/** Modules that call the gateway. */
export const GATEWAY_MODULES = ['certview-certificates', 'edr-events', 'mobile-assets'] as const;
/** Modules that call the API server (`qualysapi…`: the VM XML APIs). */
export const API_MODULES = ['vmdr-detections', 'knowledgebase'] as const;

/**
 * How the API server modules authenticate: `basic` (the Qualys user, on every call, as every public client of these
 * APIs does) or `bearer` (the gateway's token, for subscriptions where Qualys accepts it on /api/2.0 and later).
 */
export const VM_AUTH_METHODS = ['basic', 'bearer'] as const;
export type VmAuthMethod = (typeof VM_AUTH_METHODS)[number];

/** Where the Qualys APIs live. Derived from QUALYS_PLATFORM, overridden by explicit URLs. */
export interface QualysEndpoints {
  platform?: string;
  /**
   * Gateway origin: /auth, /auth/oidc, /auth/oauth, /certview, /ioc, /sem. No trailing slash. Absent only when
   * the config was loaded for PCI Merchant alone and no platform or gateway URL was given.
   */
  gatewayUrl?: string;
  /** PCI Merchant API origin. No trailing slash. */
  pciUrl: string;
  /**
   * API server origin (`qualysapi…`): VMDR host detections, KnowledgeBase. Absent when no platform or API URL was
   * given and no module that needs it runs.
   */
  apiUrl?: string;
}

/** Credentials as the token refresher needs them (from env locally, from the credentials secret in AWS). */
export interface Credentials {
  method: AuthMethod;
  clientId?: string;
  clientSecret?: string;
  username?: string;
  password?: string;
  /** IdP token endpoint (idp-* methods). */
  tokenUrl?: string;
  /** OAuth2 scope for idp-* methods; default "openid profile". */
  scope?: string;
}

/**
 * PCI Merchant credentials (env QUALYS_PCI_* for the CLI; the PCI credentials secret in AWS). Separate from the
 * gateway's: PCI Merchant has its own accounts.
 */
export interface PciCredentials {
  method: PciAuthMethod;
  username?: string;
  password?: string;
  /** IdP token endpoint (idp-* methods). */
  tokenUrl?: string;
  clientId?: string;
  clientSecret?: string;
  scope?: string;
}

/** Optional JWT verification settings (jose). */
export interface TokenCheckConfig {
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** Tokens claiming a longer lifetime than this are refused as absurd. Default 24 h. */
  maxLifetimeSeconds: number;
}

export interface HttpConfig {
  /** Per-request timeout. Default 60 s. */
  timeoutMs: number;
  /** Retries for transient failures (network, 5xx, 409/429, malformed body). Default 5. */
  maxRetries: number;
  /** Parallel requests allowed against the API (Qualys default concurrency limit is 2). */
  concurrency: number;
  /** Below this many calls left in a rate window, calls are spread over the rest of it. Default 10. */
  rateReserve: number;
  /** Wait after a 409 1965 that states no wait, even on a repeated call. Default 3601 s (as qualysdk). */
  rateLimitFallbackSeconds: number;
  /** Largest response body on the wire (declared Content-Length, or counted when not compressed). */
  maxResponseBytes: number;
  /** Largest response body after decompression (gzip, deflate, br), counted as it is inflated. */
  maxDecodedBytes: number;
  /**
   * Longest wait sat through in-process (rate limit, pacing, backoff). A longer one ends the invocation with its
   * checkpoint: the CLI exits 3 saying when to resume, the Lambda returns `continue` with `waitSeconds`.
   */
  maxWaitSeconds: number;
}

export interface PciOptions {
  pageSize: number;
}
export interface CertviewOptions {
  /** API version in the path, e.g. v1 (capped at 10,000 results), v2, v2.1, v2.2. */
  apiVersion: string;
  /** Sent as `assetType` (default ALL: certificates on unmanaged assets too). */
  assetType: string;
  pageSize: number;
  /** Either the structured v2 filter object or a v1 QQL string. */
  filter?: unknown;
  includes?: string[];
}
/**
 * The QQL time field an EDR window (and its sort) applies to, spelled as Qualys documents it: `event.datetime`
 * (the agent's event time) or `event.eventprocesstime` (when Qualys processed the event; the EDR "fetch events
 * using searchAfter" page). The response field of the latter is `eventProcessedTime`, and earlier versions sent
 * `event.eventProcessedTime`, a spelling no public source documents: users may still write it (and the record
 * names), it is sent as documented.
 */
export const EDR_TIME_FIELDS = ['event.datetime', 'event.eventprocesstime'] as const;
export type EdrTimeField = (typeof EDR_TIME_FIELDS)[number];

/** Every spelling users (and older checkpoints) write for each time field, lower case, `event.` optional. */
const EDR_TIME_FIELD_SPELLINGS: Record<string, EdrTimeField> = {
  datetime: 'event.datetime',
  eventprocesstime: 'event.eventprocesstime',
  eventprocessedtime: 'event.eventprocesstime',
};

/** A time field in any accepted spelling → the documented one; undefined when it names neither. */
export function edrTimeFieldOf(v: string): EdrTimeField | undefined {
  return EDR_TIME_FIELD_SPELLINGS[
    v
      .trim()
      .toLowerCase()
      .replace(/^event\./, '')
  ];
}

/** The `state` parameter sent identically with every EDR listing and count: `false` (default), `true`, or none. */
export const EDR_STATES = ['false', 'true', 'omit'] as const;
export type EdrState = (typeof EDR_STATES)[number];

export interface EdrOptions {
  /** QQL filter ANDed with the time window, e.g. `type:MUTEX`. */
  filter?: string;
  /**
   * Window on the agent's event time (event.datetime, default) or on when Qualys processed the event
   * (event.eventprocesstime): agents that upload late land in a processed-time window that has not closed yet.
   */
  timeField: EdrTimeField;
  /**
   * `state` sent with every listing and count request (Qualys's add-on sends `false` to both, another public
   * client `true` for active events only); `omit` sends none. The count proves a listing only with the same filter.
   */
  state: EdrState;
  /** A window ends this long before the earlier of our clock and Qualys's (indexing lag), in seconds. */
  indexingLagSeconds: number;
  pageSize: number;
  overlapMinutes: number;
  /** First run (no committed window end): how far back to start. */
  initialLookbackHours: number;
}
/** `snapshot`: every run lists every asset. `incremental`: after a first snapshot, each run lists only the assets
 * with detections updated since the previous complete run started (minus the overlap). */
export const MOBILE_MODES = ['snapshot', 'incremental'] as const;
export type MobileMode = (typeof MOBILE_MODES)[number];

/**
 * The largest VMDR Mobile batch (`truncation_limit`) allowed. Qualys publishes no maximum (its add-on uses 1,000).
 * Batches are streamed (shared/modules/xml-truncation.ts), so memory no longer bounds it; it stays where it was
 * measured (docs/benchmarks.md, "State and memory").
 */
export const MOBILE_MAX_TRUNCATION_LIMIT = 2000;

export interface MobileOptions {
  mode: MobileMode;
  truncationLimit: number;
  /**
   * A fixed floor, `YYYY-MM-DDTHH:MM:SSZ`: snapshot runs list only detections updated since it; in incremental mode
   * it is where the first (snapshot) run starts, and no increment reaches before it.
   */
  detectionUpdatedSince?: string;
  includeFields?: string;
  /** Incremental mode: each increment starts this long before the previous complete run started. */
  overlapMinutes: number;
  /** Incremental mode: a run is a full snapshot again when the last one started this long ago (0 = never). */
  snapshotEveryHours: number;
  /** Incremental mode: `detection_updated_before` is this long before the earlier of both clocks, in seconds. */
  indexingLagSeconds: number;
}
/** The XML API versions the API server modules may call; `auto` tries the newest first (a 404 moves on). */
export const VMDR_API_VERSIONS = ['5.0', '4.0', '3.0', '2.0'] as const;
export const KB_API_VERSIONS = ['4.0', '3.0', '2.0'] as const;

export interface VmdrOptions {
  /** `auto` (the newest the tenant answers) or a version such as 2.0. */
  apiVersion: 'auto' | (typeof VMDR_API_VERSIONS)[number];
  truncationLimit: number;
  /** `status`: which detection states (New,Active,Fixed,Re-Opened: Fixed is what closes a finding downstream). */
  status: string;
  /** Every VMDR_FLAGS parameter, as sent. */
  flags: Record<string, string>;
  /** Further parameters (filters such as severities or tag selectors), sent with every request. */
  extra: Record<string, string>;
  /** `incremental` (default): hosts processed since the previous complete run, with periodic snapshots. */
  mode: MobileMode;
  overlapMinutes: number;
  snapshotEveryHours: number;
  /** Per-request timeout: a page of 1,000 hosts can take minutes to produce. */
  timeoutMs: number;
}

export interface KbOptions {
  apiVersion: 'auto' | (typeof KB_API_VERSIONS)[number];
  flags: Record<string, string>;
  extra: Record<string, string>;
  /** Increments start at the latest LAST_SERVICE_MODIFICATION_DATETIME seen, minus this. */
  overlapMinutes: number;
  /** A full read again after this many hours (0 = only the first run). */
  snapshotEveryHours: number;
  timeoutMs: number;
}

export interface ModuleOptions {
  pci: PciOptions;
  certview: CertviewOptions;
  edr: EdrOptions;
  mobile: MobileOptions;
  vmdr: VmdrOptions;
  kb: KbOptions;
}

export interface OutputConfig {
  /** Key prefix inside the bucket / directory, no leading or trailing slash ('' allowed). */
  prefix: string;
  /** Roll over to a new part after this many uncompressed bytes. Default 64 MiB. */
  partMaxBytes: number;
  /** ... or this many records. Default 500,000. */
  partMaxRecords: number;
  /** gzip level of the data parts, 1 (fastest) to 9 (smallest). Default 6 (see docs/benchmarks.md). */
  gzipLevel: number;
  /**
   * XML listings hand records to the sink in groups of about this many characters of XML (and may checkpoint
   * between them, inside a response). Default 1 MiB.
   */
  xmlSubPageChars: number;
}

export interface AppConfig {
  endpoints: QualysEndpoints;
  /** How the API server modules authenticate. */
  vm: { authMethod: VmAuthMethod };
  tokenCheck: TokenCheckConfig;
  http: HttpConfig;
  modules: ModuleOptions;
  output: OutputConfig;
}

/**
 * How long before the earlier of both clocks a window that ends at "now" ends (QUALYS_EDR_INDEXING_LAG_SECONDS,
 * QUALYS_MOBILE_INDEXING_LAG_SECONDS). Qualys's own Splunk add-on ends its EDR/FIM windows 30 s before now "to
 * match the lag of elastic search indexing" [code]; we take twice that: the add-on's 30 s was found against its
 * host's clock alone, our skew measurement adds up to a second and a round trip of uncertainty, a count taken
 * while the window's last events are still being indexed disagrees and costs a re-read of the whole window, and
 * 30 s more of latency is nothing next to a 15-minute schedule.
 */
export const DEFAULT_INDEXING_LAG_SECONDS = 60;
/**
 * QEXPORT_MAX_WAIT_SECONDS unless set: two days, longer than the longest wait Qualys is known to state (a day's
 * rate window: "23 hours, 57 minutes and 54 seconds"), so a CLI run sits through it, showing it.
 */
export const DEFAULT_MAX_WAIT_SECONDS = 2 * 86_400;
/**
 * No wait longer than this is ever taken: one year, the longest a Step Functions Standard execution (and its Wait
 * state) lasts. A longer wait stated by the API is refused as not plausible (the run fails, naming it).
 */
export const MAX_PLAUSIBLE_WAIT_SECONDS = 365 * 86_400;

/** gzip level of data parts unless QEXPORT_GZIP_LEVEL says otherwise: chosen in docs/benchmarks.md. */
export const DEFAULT_GZIP_LEVEL = 6;

/** Environment variable names. Add new ones here, in the same style. */
export const ENV = {
  platform: 'QUALYS_PLATFORM',
  gatewayUrl: 'QUALYS_GATEWAY_URL',
  pciUrl: 'QUALYS_PCI_URL',
  apiUrl: 'QUALYS_API_URL',
  vmAuthMethod: 'QUALYS_VM_AUTH_METHOD',
  authMethod: 'QUALYS_AUTH_METHOD',
  clientId: 'QUALYS_CLIENT_ID',
  clientSecret: 'QUALYS_CLIENT_SECRET',
  username: 'QUALYS_USERNAME',
  password: 'QUALYS_PASSWORD',
  tokenUrl: 'QUALYS_TOKEN_URL',
  scope: 'QUALYS_SCOPE',
  jwksUrl: 'QUALYS_JWKS_URL',
  issuer: 'QUALYS_ISSUER',
  audience: 'QUALYS_AUDIENCE',
  maxTokenLifetime: 'QUALYS_MAX_TOKEN_LIFETIME_SECONDS',
  timeoutMs: 'QUALYS_HTTP_TIMEOUT_MS',
  maxRetries: 'QUALYS_HTTP_MAX_RETRIES',
  concurrency: 'QUALYS_CONCURRENCY',
  rateReserve: 'QUALYS_RATE_RESERVE',
  rateLimitFallbackSeconds: 'QUALYS_RATE_LIMIT_FALLBACK_SECONDS',
  maxResponseBytes: 'QEXPORT_MAX_RESPONSE_BYTES',
  maxDecodedBytes: 'QEXPORT_MAX_DECODED_BYTES',
  maxWaitSeconds: 'QEXPORT_MAX_WAIT_SECONDS',
  pciAuthMethod: 'QUALYS_PCI_AUTH_METHOD',
  pciUsername: 'QUALYS_PCI_USERNAME',
  pciPassword: 'QUALYS_PCI_PASSWORD',
  pciTokenUrl: 'QUALYS_PCI_TOKEN_URL',
  pciClientId: 'QUALYS_PCI_CLIENT_ID',
  pciClientSecret: 'QUALYS_PCI_CLIENT_SECRET',
  pciScope: 'QUALYS_PCI_SCOPE',
  pciPageSize: 'QUALYS_PCI_PAGE_SIZE',
  certviewApiVersion: 'QUALYS_CERTVIEW_API_VERSION',
  certviewAssetType: 'QUALYS_CERTVIEW_ASSET_TYPE',
  certviewPageSize: 'QUALYS_CERTVIEW_PAGE_SIZE',
  certviewFilter: 'QUALYS_CERTVIEW_FILTER',
  certviewIncludes: 'QUALYS_CERTVIEW_INCLUDES',
  edrFilter: 'QUALYS_EDR_FILTER',
  edrTimeField: 'QUALYS_EDR_TIME_FIELD',
  edrPageSize: 'QUALYS_EDR_PAGE_SIZE',
  edrOverlapMinutes: 'QUALYS_EDR_OVERLAP_MINUTES',
  edrInitialLookbackHours: 'QUALYS_EDR_INITIAL_LOOKBACK_HOURS',
  edrState: 'QUALYS_EDR_STATE',
  edrIndexingLagSeconds: 'QUALYS_EDR_INDEXING_LAG_SECONDS',
  mobileIndexingLagSeconds: 'QUALYS_MOBILE_INDEXING_LAG_SECONDS',
  mobileTruncationLimit: 'QUALYS_MOBILE_TRUNCATION_LIMIT',
  mobileDetectionUpdatedSince: 'QUALYS_MOBILE_DETECTION_UPDATED_SINCE',
  mobileIncludeFields: 'QUALYS_MOBILE_INCLUDE_FIELDS',
  mobileMode: 'QUALYS_MOBILE_MODE',
  mobileOverlapMinutes: 'QUALYS_MOBILE_OVERLAP_MINUTES',
  mobileSnapshotEveryHours: 'QUALYS_MOBILE_SNAPSHOT_EVERY_HOURS',
  vmdrApiVersion: 'QUALYS_VMDR_API_VERSION',
  vmdrTruncationLimit: 'QUALYS_VMDR_TRUNCATION_LIMIT',
  vmdrStatus: 'QUALYS_VMDR_STATUS',
  vmdrExtraParams: 'QUALYS_VMDR_EXTRA_PARAMS',
  vmdrShowIgs: 'QUALYS_VMDR_SHOW_IGS',
  vmdrIncludeIgnored: 'QUALYS_VMDR_INCLUDE_IGNORED',
  vmdrIncludeDisabled: 'QUALYS_VMDR_INCLUDE_DISABLED',
  vmdrShowResults: 'QUALYS_VMDR_SHOW_RESULTS',
  vmdrShowQds: 'QUALYS_VMDR_SHOW_QDS',
  vmdrShowQdsFactors: 'QUALYS_VMDR_SHOW_QDS_FACTORS',
  vmdrShowTags: 'QUALYS_VMDR_SHOW_TAGS',
  vmdrShowAssetId: 'QUALYS_VMDR_SHOW_ASSET_ID',
  vmdrShowReopenedInfo: 'QUALYS_VMDR_SHOW_REOPENED_INFO',
  vmdrMode: 'QUALYS_VMDR_MODE',
  vmdrOverlapMinutes: 'QUALYS_VMDR_OVERLAP_MINUTES',
  vmdrSnapshotEveryHours: 'QUALYS_VMDR_SNAPSHOT_EVERY_HOURS',
  vmdrTimeoutSeconds: 'QUALYS_VMDR_TIMEOUT_SECONDS',
  kbApiVersion: 'QUALYS_KB_API_VERSION',
  kbExtraParams: 'QUALYS_KB_EXTRA_PARAMS',
  kbShowDisabledFlag: 'QUALYS_KB_SHOW_DISABLED_FLAG',
  kbShowSupportedModules: 'QUALYS_KB_SHOW_SUPPORTED_MODULES',
  kbShowPciReasons: 'QUALYS_KB_SHOW_PCI_REASONS',
  kbOverlapMinutes: 'QUALYS_KB_OVERLAP_MINUTES',
  kbSnapshotEveryHours: 'QUALYS_KB_SNAPSHOT_EVERY_HOURS',
  kbTimeoutSeconds: 'QUALYS_KB_TIMEOUT_SECONDS',
  prefix: 'QEXPORT_PREFIX',
  partMaxBytes: 'QEXPORT_PART_MAX_BYTES',
  partMaxRecords: 'QEXPORT_PART_MAX_RECORDS',
  gzipLevel: 'QEXPORT_GZIP_LEVEL',
  xmlSubPageKb: 'QEXPORT_XML_SUBPAGE_KB',
  // AWS wiring (Lambda; CLI with --out s3://)
  bucket: 'QEXPORT_BUCKET',
  tokenSecretId: 'QEXPORT_TOKEN_SECRET_ID',
  credentialsSecretId: 'QEXPORT_CREDENTIALS_SECRET_ID',
  pciCredentialsSecretId: 'QEXPORT_PCI_CREDENTIALS_SECRET_ID',
  vmCredentialsSecretId: 'QEXPORT_VM_CREDENTIALS_SECRET_ID',
  tokenRefreshFunction: 'QEXPORT_TOKEN_REFRESH_FUNCTION',
  refreshMarginMinutes: 'QEXPORT_REFRESH_MARGIN_MINUTES',
  logLevel: 'QEXPORT_LOG_LEVEL',
  /** Set by the stack on a listed tenant's functions: added to their metrics as the `Tenant` dimension. */
  tenant: 'QEXPORT_TENANT',
  /** Set by the stack on the exporters, read by functions/lambda-heap.sh (the exec wrapper). */
  semiSpaceMb: 'QEXPORT_SEMI_SPACE_MB',
  lambdaExecWrapper: 'AWS_LAMBDA_EXEC_WRAPPER',
  // Outbound proxy for Qualys and IdP calls (the conventional names; the lowercase spelling wins when both are set)
  httpsProxy: 'HTTPS_PROXY',
  httpProxy: 'HTTP_PROXY',
  noProxy: 'NO_PROXY',
} as const;

/**
 * Host List Detection parameters the exporter always sends, each from a setting with a documented default: the
 * API's own defaults are undocumented or differ between peers (qualys-vmdr-kb.md §1.3).
 */
export const VMDR_FLAGS = [
  {
    param: 'show_igs',
    env: ENV.vmdrShowIgs,
    dflt: '0',
    about: 'include Information Gathered detections',
  },
  {
    param: 'include_ignored',
    env: ENV.vmdrIncludeIgnored,
    dflt: '1',
    about: 'include ignored detections (IS_IGNORED says which)',
  },
  {
    param: 'include_disabled',
    env: ENV.vmdrIncludeDisabled,
    dflt: '1',
    about: 'include detections of disabled QIDs (IS_DISABLED says which)',
  },
  {
    param: 'show_results',
    env: ENV.vmdrShowResults,
    dflt: '1',
    about: "include each detection's RESULTS text",
  },
  {
    param: 'show_qds',
    env: ENV.vmdrShowQds,
    dflt: '1',
    about: 'include the Qualys Detection Score (QDS)',
  },
  {
    param: 'show_qds_factors',
    env: ENV.vmdrShowQdsFactors,
    dflt: '0',
    about: 'include the factors behind each QDS',
  },
  { param: 'show_tags', env: ENV.vmdrShowTags, dflt: '1', about: "include each host's asset tags" },
  {
    param: 'show_asset_id',
    env: ENV.vmdrShowAssetId,
    dflt: '1',
    about: "include each host's ASSET_ID",
  },
  {
    param: 'show_reopened_info',
    env: ENV.vmdrShowReopenedInfo,
    dflt: '1',
    about: 'include when detections were reopened',
  },
] as const;

/** KnowledgeBase parameters the exporter always sends (details=All besides). */
export const KB_FLAGS = [
  {
    param: 'show_disabled_flag',
    env: ENV.kbShowDisabledFlag,
    dflt: '1',
    about: 'say which QIDs are disabled',
  },
  {
    param: 'show_supported_modules_info',
    env: ENV.kbShowSupportedModules,
    dflt: '1',
    about: 'list the modules that detect each QID',
  },
  {
    param: 'show_pci_reasons',
    env: ENV.kbShowPciReasons,
    dflt: '1',
    about: 'explain PCI pass/fail per QID',
  },
] as const;

/** Parameters the exporter owns: a QUALYS_*_EXTRA_PARAMS setting may not set them. */
export const OWNED_XML_PARAMS = [
  'action',
  'id_min',
  'id_max',
  'ids',
  'truncation_limit',
  'output_format',
  'echo_request',
  'details',
  'vm_processed_after',
  'vm_processed_before',
  'last_modified_after',
  'last_modified_before',
] as const;

export type Env = Record<string, string | undefined>;

/**
 * The configuration reference: one row per ENV entry, from which docs/configuration.md is generated
 * (`npm run docs:gen`; test/unit/config-docs.test.ts fails when a name has no row or the page is stale).
 * A row is `[section, default, allowed values, meaning]`; the allowed values of a whole number that loadConfig
 * parses are `[min, max]`, which the test checks against the parser. Adding a variable: one line here.
 */
export type EnvSection =
  | 'Qualys platform and credentials'
  | 'Token checks'
  | 'PCI Merchant'
  | 'HTTP'
  | 'CertView'
  | 'EDR'
  | 'VMDR Mobile'
  | 'VMDR host detections'
  | 'KnowledgeBase'
  | 'Output'
  | 'Logging'
  | 'Proxy'
  | 'Lambda (set by the stack)';
export type EnvRow = readonly [
  section: EnvSection,
  dflt: string,
  allowed: string | readonly [number, number],
  meaning: string,
];

// prettier-ignore
export const ENV_REFERENCE: Readonly<Record<keyof typeof ENV, EnvRow>> = {
  platform: ['Qualys platform and credentials', '—', 'US1…US4, EU1…EU3, IN, CA, AE, UK, AU, KSA', 'picks the gateway URL'],
  gatewayUrl: ['Qualys platform and credentials', 'from the platform', 'https URL (http on 127.0.0.1)', 'gateway origin (`/auth`, `/certview`, `/ioc`, `/sem`); overrides the platform'],
  pciUrl: ['Qualys platform and credentials', '`https://pci-api.qualys.com`', 'https URL (http on 127.0.0.1)', 'PCI Merchant API origin'],
  apiUrl: ['Qualys platform and credentials', 'from the platform (`qualysapi…`)', 'https URL (http on 127.0.0.1)', 'API server origin (host detections, KnowledgeBase); overrides the platform'],
  vmAuthMethod: ['Qualys platform and credentials', '`basic`', 'basic, bearer', 'how vmdr-detections and knowledgebase authenticate: `basic` (the Qualys user `QUALYS_USERNAME`/`QUALYS_PASSWORD` on every call, with `X-Requested-With`, as every public client of these APIs does) or `bearer` (the gateway token: needs the gateway credentials, and a subscription where Qualys takes it on `/api/2.0` and later) ([credentials](credentials.md#api-server-credentials-host-detections-knowledgebase))'],
  authMethod: ['Qualys platform and credentials', '`qualys-oidc`', 'qualys-oidc, qualys-oauth, qualys-basic, idp-password, idp-client-credentials', 'gateway auth: user-level client (`/auth/oidc`), subscription-level client (`/auth/oauth`), user and password, or an IdP grant. Needed only when a gateway module runs'],
  clientId: ['Qualys platform and credentials', '—', 'text', 'OAuth client id (qualys-oidc, qualys-oauth, idp-*)'],
  clientSecret: ['Qualys platform and credentials', '—', 'at least 8 characters', 'OAuth client secret (qualys-oidc, qualys-oauth, idp-client-credentials)'],
  username: ['Qualys platform and credentials', '—', 'text', 'user (qualys-basic, idp-password; and the API server modules with `QUALYS_VM_AUTH_METHOD=basic`)'],
  password: ['Qualys platform and credentials', '—', 'at least 8 characters', 'password (qualys-basic, idp-password, the API server modules)'],
  tokenUrl: ['Qualys platform and credentials', '—', 'https URL', 'IdP token endpoint (idp-*)'],
  scope: ['Qualys platform and credentials', '`openid profile`', 'text', 'IdP scope (idp-*)'],
  jwksUrl: ['Token checks', '—', 'https URL', "verify the token's signature against this JWKS (jose)"],
  issuer: ['Token checks', '—', 'text', "the token's required `iss`"],
  audience: ['Token checks', '—', 'text', "the token's required `aud`"],
  maxTokenLifetime: ['Token checks', '`86400`', [60, 2592000], 'refuse tokens claiming a longer life (seconds)'],
  timeoutMs: ['HTTP', '`60000`', [1000, 900000], 'per-request timeout, stalled bodies included (ms)'],
  maxRetries: ['HTTP', '`5`', [0, 20], 'retries for network errors, 5xx, malformed bodies and token requests (rate-limit waits: 20)'],
  concurrency: ['HTTP', '`2`', [1, 16], "requests in flight per module (Qualys's usual limit is 2); never more than the server's `X-Concurrency-Limit-Limit`"],
  rateReserve: ['HTTP', '`10`', [0, 100000], "pacing per endpoint: when `X-RateLimit-Remaining` falls to this many, the calls left are spread over the rest of the window, and with none left the client waits for the reset instead of being blocked (a 409 1965 can cost hours). At most half the window's limit"],
  rateLimitFallbackSeconds: ['HTTP', '`3601`', [1, 604800], 'wait after a 409 1965 that states no wait (no `SECONDS_TO_WAIT`, no header, even on a repeated call)'],
  maxWaitSeconds: ['HTTP', '`172800`', [1, 31536000], 'the longest wait (rate limit, pacing, backoff; two days by default) sat through in-process. A longer one ends the run with its checkpoint: the CLI exits 3 saying when to resume ("resume after …", local and UTC), the Lambda returns `continue` with `waitSeconds` and Step Functions waits. A wait stated as more than a year is refused as not plausible ([security](security.md#waits))'],
  maxResponseBytes: ['HTTP', '`268435456`', [65536, 4294967296], 'largest response body (256 MiB by default) on the wire: a declared `Content-Length` above it is refused unread, an uncompressed body is counted as it arrives ([security](security.md#sizes))'],
  maxDecodedBytes: ['HTTP', '`268435456`', [65536, 4294967296], 'largest response body (256 MiB by default) after decompression (gzip, deflate, br), counted as it inflates: a compressed bomb is abandoned at this bound ([security](security.md#sizes))'],
  pciAuthMethod: ['PCI Merchant', '`basic`', 'basic, idp-password, idp-client-credentials', "PCI Merchant's own auth. Needed only when pci-scans runs"],
  pciUsername: ['PCI Merchant', '—', 'text', 'PCI Merchant account (basic) or IdP user (idp-password)'],
  pciPassword: ['PCI Merchant', '—', 'at least 8 characters', 'its password'],
  pciTokenUrl: ['PCI Merchant', '—', 'https URL', 'IdP token endpoint for PCI (idp-*); the JWT is obtained and cached in-process'],
  pciClientId: ['PCI Merchant', '—', 'text', 'IdP client id for PCI (idp-*)'],
  pciClientSecret: ['PCI Merchant', '—', 'at least 8 characters', 'IdP client secret for PCI (idp-client-credentials)'],
  pciScope: ['PCI Merchant', '`openid profile`', 'text', 'IdP scope for PCI (idp-*)'],
  pciPageSize: ['PCI Merchant', '`1000`', [1, 1000], 'PCI `limit` per page'],
  certviewApiVersion: ['CertView', '`v2`', 'v1, v2, v2.1, v2.2, …', 'the version in the path; v1 is capped at 10,000 results'],
  certviewAssetType: ['CertView', '`ALL`', 'ALL, MANAGED, UNMANAGED, …', 'sent as `assetType`; `ALL` includes certificates on unmanaged (external) assets'],
  certviewPageSize: ['CertView', '`200`', [1, 200], 'certificates per page'],
  certviewFilter: ['CertView', '—', 'JSON object or QQL', 'a v2 filter object as JSON, or a v1 QQL string'],
  certviewIncludes: ['CertView', '—', 'comma-separated', 'e.g. `ASSET_INTERFACES`'],
  edrFilter: ['EDR', '—', 'QQL without a time field', 'ANDed with the time window, e.g. `type:MUTEX`'],
  edrTimeField: ['EDR', '`event.datetime`', 'event.datetime, event.eventprocesstime (also read: event.eventProcessedTime)', "what a window (and its ascending sort) is on: the agent's event time, or when Qualys processed it, sent as Qualys documents it (`event.eventprocesstime`). Agents that upload later than the overlap are missed by `event.datetime` windows; processed-time windows catch them"],
  edrState: ['EDR', '`false`', 'false, true, omit', 'the `state` parameter, sent identically with every listing and `/ioc/events/count` request: `false` all events (as Qualys\'s add-on asks), `true` active events only, `omit` none sent'],
  edrIndexingLagSeconds: ['EDR', '`60`', [0, 3600], "a window ends this long before the earlier of this machine's clock and Qualys's (measured from the `Date` header of its responses), so it claims only what Qualys has processed and indexed (Qualys's add-on uses 30)"],
  edrPageSize: ['EDR', '`1000`', [1, 5000], 'events per page. Fewer calls at 5000, but a 1M-event run then peaks at about 245 MB as deployed against 173 MB at 1000 ([benchmarks](benchmarks.md#state-and-memory)): well within the function\'s 1,024 MB, above the 192 MB the product aims for'],
  edrOverlapMinutes: ['EDR', '`10`', [0, 1440], 'each window starts this much before the last one ended (late events); events the previous run wrote (same `id`, same content) are not written again'],
  edrInitialLookbackHours: ['EDR', '`24`', [1, 2160], "the first run's window"],
  mobileTruncationLimit: ['VMDR Mobile', '`1000`', [1, MOBILE_MAX_TRUNCATION_LIMIT], 'assets per batch (`truncation_limit`). A batch is read as a stream and handed over in sub-pages (`QEXPORT_XML_SUBPAGE_KB`); peak memory at the largest allowed is in [benchmarks](benchmarks.md#state-and-memory)'],
  mobileDetectionUpdatedSince: ['VMDR Mobile', '—', 'YYYY-MM-DDTHH:MM:SSZ', 'a fixed floor: snapshots list only detections updated since it; in incremental mode the first snapshot starts there and no increment reaches before it. Changing it (or the include fields) makes the next incremental run a snapshot'],
  mobileIncludeFields: ['VMDR Mobile', '—', 'text', 'passed as `includeFields`'],
  mobileMode: ['VMDR Mobile', '`snapshot`', 'snapshot, incremental', '`snapshot`: every run lists every asset. `incremental`: the first run is a snapshot; each later run lists only the assets with a detection updated since the previous complete run started, minus the overlap. `mobile_assets_latest` is the current state of each asset either way ([querying](querying.md#vmdr-mobile-snapshots-and-increments))'],
  mobileOverlapMinutes: ['VMDR Mobile', '`60`', [0, 10080], "incremental: each increment starts this long before where the previous run's listing stood"],
  mobileIndexingLagSeconds: ['VMDR Mobile', '`60`', [0, 3600], "incremental: `detection_updated_before` (and where the next increment starts) is this long before the earlier of this machine's clock and Qualys's"],
  mobileSnapshotEveryHours: ['VMDR Mobile', '`168`', [0, 8784], 'incremental: a run is a full snapshot again once the last one started this long ago (0 = only the first run)'],
  vmdrApiVersion: ['VMDR host detections', '`auto`', 'auto, 5.0, 4.0, 3.0, 2.0', "Host List Detection's version in the path: `auto` tries the newest the tenant serves (a 404 to the run's first request moves on to the next older); 5.0 adds `UNIQUE_VULN_ID`"],
  vmdrMode: ['VMDR host detections', '`incremental`', 'incremental, snapshot', "`incremental`: hosts whose scan results were processed since the previous complete run started, minus the overlap (`vm_processed_after`; `vm_processed_before` = this run's start), each with all its detections; a full snapshot on the first run, after a filter change and every `QUALYS_VMDR_SNAPSHOT_EVERY_HOURS`. `snapshot`: every run lists every host ([querying](querying.md#vmdr-host-detections-and-the-knowledgebase))"],
  vmdrOverlapMinutes: ['VMDR host detections', '`60`', [0, 10080], 'incremental: each increment starts this long before the previous run started'],
  vmdrSnapshotEveryHours: ['VMDR host detections', '`168`', [0, 8784], 'incremental: a full snapshot again once the last one started this long ago (0 = only the first run); only snapshots drop purged hosts and hosts whose detections are all gone'],
  vmdrTruncationLimit: ['VMDR host detections', '`1000`', [0, 1000000], 'hosts per response (`truncation_limit`; 0 = no truncation: one response, streamed and resumable by host id)'],
  vmdrStatus: ['VMDR host detections', '`New,Active,Fixed,Re-Opened`', 'a comma-separated subset', 'detection states listed (`status`); Fixed is what closes a finding downstream'],
  vmdrShowIgs: ['VMDR host detections', '`0`', '0, 1', '`show_igs`: 1 adds Information Gathered detections (often hundreds per host)'],
  vmdrIncludeIgnored: ['VMDR host detections', '`1`', '0, 1', '`include_ignored` (`IS_IGNORED` says which)'],
  vmdrIncludeDisabled: ['VMDR host detections', '`1`', '0, 1', '`include_disabled` (`IS_DISABLED` says which)'],
  vmdrShowResults: ['VMDR host detections', '`1`', '0, 1', "`show_results`: each detection's `RESULTS` text, kept exactly (can be megabytes)"],
  vmdrShowQds: ['VMDR host detections', '`1`', '0, 1', '`show_qds`: the Qualys Detection Score'],
  vmdrShowQdsFactors: ['VMDR host detections', '`0`', '0, 1', '`show_qds_factors`'],
  vmdrShowTags: ['VMDR host detections', '`1`', '0, 1', "`show_tags`: each host's asset tags"],
  vmdrShowAssetId: ['VMDR host detections', '`1`', '0, 1', '`show_asset_id`'],
  vmdrShowReopenedInfo: ['VMDR host detections', '`1`', '0, 1', '`show_reopened_info`'],
  vmdrExtraParams: ['VMDR host detections', '—', '`key=value&key=value`', "further Host List Detection parameters sent with every request (e.g. `severities=3-5&tag_set_include=123`); the exporter's own are refused"],
  vmdrTimeoutSeconds: ['VMDR host detections', '`900`', [1, 3600], 'per-request timeout in seconds (a page of 1,000 hosts can take minutes); a body that times out is read on from the last host written'],
  kbApiVersion: ['KnowledgeBase', '`auto`', 'auto, 4.0, 3.0, 2.0', 'the version in the path: `auto` tries the newest the tenant serves'],
  kbOverlapMinutes: ['KnowledgeBase', '`1440`', [0, 43200], 'each increment asks `last_modified_after` = the newest `LAST_SERVICE_MODIFICATION_DATETIME` seen, minus this'],
  kbSnapshotEveryHours: ['KnowledgeBase', '`168`', [0, 8784], 'a full read again once the last one started this long ago (0 = only the first run)'],
  kbShowDisabledFlag: ['KnowledgeBase', '`1`', '0, 1', '`show_disabled_flag` (`details=All` is always sent)'],
  kbShowSupportedModules: ['KnowledgeBase', '`1`', '0, 1', '`show_supported_modules_info`'],
  kbShowPciReasons: ['KnowledgeBase', '`1`', '0, 1', '`show_pci_reasons`'],
  kbExtraParams: ['KnowledgeBase', '—', '`key=value&key=value`', 'further KnowledgeBase parameters (e.g. `show_qid_change_log=1`)'],
  kbTimeoutSeconds: ['KnowledgeBase', '`1800`', [1, 7200], 'per-request timeout in seconds (a full `details=All` read is hundreds of MB; peers needed 10 minutes)'],
  prefix: ['Output', '`qualys`', "letters, digits, `!_.*'()/-`; no `.`, `..` or empty segment", "key prefix (the CLI's `--out s3://bucket/prefix` sets it)"],
  partMaxBytes: ['Output', '`67108864`', [1024, 4294967296], 'roll to a new part after this many uncompressed bytes'],
  partMaxRecords: ['Output', '`500000`', [1, 100000000], '… or this many records'],
  xmlSubPageKb: ['Output', '`1024`', [1, 65536], 'XML listings hand records to the sink in groups of about this much XML, and may checkpoint between them, inside a response'],
  gzipLevel: ['Output', '`6`', [1, 9], 'gzip level of the data parts, 1 (least CPU) to 9 (fewest bytes) ([benchmarks](benchmarks.md#gzip-level))'],
  bucket: ['Lambda (set by the stack)', '—', 'bucket name', 'the bucket'],
  tokenSecretId: ['Lambda (set by the stack)', '—', 'secret id', 'gateway modules: the token secret'],
  credentialsSecretId: ['Lambda (set by the stack)', '—', 'secret id', 'gateway modules: the credentials secret ([credentials](credentials.md))'],
  pciCredentialsSecretId: ['Lambda (set by the stack)', '—', 'secret id', 'pci-scans only: the PCI Merchant credentials secret'],
  vmCredentialsSecretId: ['Lambda (set by the stack)', '—', 'secret id', 'vmdr-detections and knowledgebase with `QUALYS_VM_AUTH_METHOD=basic`: the VM credentials secret'],
  tokenRefreshFunction: ['Lambda (set by the stack)', '—', 'function name', 'what exporters invoke on a 401'],
  refreshMarginMinutes: ['Lambda (set by the stack)', '`60`', '0–1440', 'token-refresh: refresh when the token expires within this many minutes'],
  logLevel: ['Logging', '`info` (CLI: silent)', 'debug, info, warn, error', 'JSON log lines at this level and above; anything else is a configuration error'],
  tenant: ['Lambda (set by the stack)', '—', "1–64 letters, digits, `.`, `_`, `-`", "a listed tenant's id: added to its functions' metrics as the `Tenant` dimension"],
  semiSpaceMb: ['Lambda (set by the stack)', '`16`', '1–256', "exporters: V8's semi-space for the exec wrapper instead of the runtime's memory ÷ 20 ([operations](operations.md#memory-how-the-exporters-node-is-started))"],
  lambdaExecWrapper: ['Lambda (set by the stack)', '`/var/task/lambda-heap.sh`', 'path', 'exporters: the wrapper that starts node with that semi-space'],
  httpsProxy: ['Proxy', '—', '`http://[user:password@]host:port`', 'proxy for Qualys and IdP requests (a bare `host:port` means http); the lowercase `https_proxy` wins when both are set'],
  httpProxy: ['Proxy', '—', '`http://[user:password@]host:port`', 'proxy for http:// targets, and for https:// ones when HTTPS_PROXY is unset'],
  noProxy: ['Proxy', '—', '`host`, `.domain`, `*.domain`, `host:port`, `*`', 'hosts reached directly'],
};

/**
 * Collects every configuration problem instead of stopping at the first, so an operator fixes them all in one
 * go. `take` runs one parse: a ConfigError is recorded and the fallback returned; other errors propagate.
 */
export class ConfigProblems {
  readonly list: string[] = [];
  take<T>(parse: () => T): T | undefined;
  take<T>(parse: () => T, fallback: T): T;
  take<T>(parse: () => T, fallback?: T): T | undefined {
    try {
      return parse();
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.list.push(...err.problems);
      return fallback;
    }
  }
  add(problem: string | undefined): void {
    if (problem) this.list.push(problem);
  }
  /** Throws one ConfigError holding every problem found so far. */
  throwIfAny(): void {
    if (this.list.length) throw new ConfigError(this.list);
  }
}

// ------------------------------------------------------------------------------------------ parser

/** Gateway per platform (qualys-api.md). PCI Merchant has one host for every platform. */
export const PLATFORMS: Record<string, string> = {
  US1: 'https://gateway.qg1.apps.qualys.com',
  US2: 'https://gateway.qg2.apps.qualys.com',
  US3: 'https://gateway.qg3.apps.qualys.com',
  US4: 'https://gateway.qg4.apps.qualys.com',
  EU1: 'https://gateway.qg1.apps.qualys.eu',
  EU2: 'https://gateway.qg2.apps.qualys.eu',
  EU3: 'https://gateway.qg3.apps.qualys.it',
  IN: 'https://gateway.qg1.apps.qualys.in',
  CA: 'https://gateway.qg1.apps.qualys.ca',
  AE: 'https://gateway.qg1.apps.qualys.ae',
  UK: 'https://gateway.qg1.apps.qualys.co.uk',
  AU: 'https://gateway.qg1.apps.qualys.com.au',
  KSA: 'https://gateway.qg1.apps.qualysksa.com',
};
export const PCI_MERCHANT_URL = 'https://pci-api.qualys.com';

/** API server (`qualysapi…`) per platform (qualys-api.md, Hosts). */
export const API_SERVERS: Record<string, string> = {
  US1: 'https://qualysapi.qualys.com',
  US2: 'https://qualysapi.qg2.apps.qualys.com',
  US3: 'https://qualysapi.qg3.apps.qualys.com',
  US4: 'https://qualysapi.qg4.apps.qualys.com',
  EU1: 'https://qualysapi.qualys.eu',
  EU2: 'https://qualysapi.qg2.apps.qualys.eu',
  EU3: 'https://qualysapi.qg3.apps.qualys.it',
  IN: 'https://qualysapi.qg1.apps.qualys.in',
  CA: 'https://qualysapi.qg1.apps.qualys.ca',
  AE: 'https://qualysapi.qg1.apps.qualys.ae',
  UK: 'https://qualysapi.qg1.apps.qualys.co.uk',
  AU: 'https://qualysapi.qg1.apps.qualys.com.au',
  KSA: 'https://qualysapi.qg1.apps.qualysksa.com',
};

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/i;

function str(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

/** An https URL (http only on loopback), without trailing slash. */
export function parseUrl(value: string, name: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a valid URL: '${value}'`);
  }
  const loopback = LOOPBACK_HOST.test(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) {
    throw new ConfigError(
      `${name} must use https (http is allowed only on 127.0.0.1/localhost), got '${u.protocol}//${u.host}'`,
    );
  }
  if (u.username || u.password) throw new ConfigError(`${name} must not contain credentials`);
  if (u.search || u.hash) throw new ConfigError(`${name} must not contain a query string or fragment`);
  return u.href.replace(/\/+$/, '');
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const v = str(env, name);
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v))
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got '${v}'`);
  const n = Number(v);
  if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

function isoDate(env: Env, name: string): string | undefined {
  const v = str(env, name);
  if (v === undefined) return undefined;
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(v) || Number.isNaN(Date.parse(v))) {
    throw new ConfigError(`${name} must look like YYYY-MM-DDTHH:MM:SSZ, got '${v}'`);
  }
  return v;
}

/**
 * The problem with a key prefix (leading and trailing '/' already removed), or undefined: the characters S3
 * keys, local paths and Glue locations all take without escaping, and no empty, '.' or '..' segment (a local
 * export would leave its directory; S3 would keep a literal '..' no reader expects).
 */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  if (!/^[A-Za-z0-9!_.*'()/-]+$/.test(prefix))
    return "may contain only letters, digits and !_.*'()/- characters";
  const segments = prefix.split('/');
  if (segments.some((s) => s === '')) return "must not contain an empty segment ('//')";
  if (segments.some((s) => s === '.' || s === '..')) return "must not contain a '.' or '..' segment";
  return undefined;
}

/**
 * Does a run of `modules` call the gateway (undefined = all modules)? The gateway modules do, and the API server
 * modules when they authenticate with the gateway's token (`QUALYS_VM_AUTH_METHOD=bearer`).
 */
export function needsGateway(
  modules: readonly ModuleName[] | undefined,
  vmAuth: VmAuthMethod = 'basic',
): boolean {
  const all = modules ?? MODULES;
  return all.some(
    (m) =>
      (GATEWAY_MODULES as readonly string[]).includes(m) ||
      (vmAuth === 'bearer' && (API_MODULES as readonly string[]).includes(m)),
  );
}

/** Does a run of `modules` call the API server? */
export function needsApi(modules: readonly ModuleName[] | undefined): boolean {
  return (modules ?? MODULES).some((m) => (API_MODULES as readonly string[]).includes(m));
}

/** QUALYS_VM_AUTH_METHOD: basic (default) or bearer. */
export function vmAuthMethod(env: Env): VmAuthMethod {
  return oneOf(str(env, ENV.vmAuthMethod)?.toLowerCase(), ENV.vmAuthMethod, VM_AUTH_METHODS, 'basic');
}

/** Does a run of `modules` call PCI Merchant? */
export function needsPci(modules: readonly ModuleName[] | undefined): boolean {
  return modules === undefined || modules.includes('pci-scans');
}

export interface LoadOptions {
  /** The modules this process will run; with only pci-scans, no platform or gateway URL is required. */
  modules?: readonly ModuleName[];
}

export function loadEndpoints(env: Env, opts: LoadOptions = {}): QualysEndpoints {
  const platform = str(env, ENV.platform)?.toUpperCase();
  const gatewayOverride = str(env, ENV.gatewayUrl);
  if (platform !== undefined && !(platform in PLATFORMS)) {
    throw new ConfigError(
      `${ENV.platform} '${platform}' is not a Qualys platform (one of ${Object.keys(PLATFORMS).join(', ')})`,
    );
  }
  const vmAuth = vmAuthMethod(env);
  if (!platform && !gatewayOverride && needsGateway(opts.modules, vmAuth)) {
    throw new ConfigError(
      `set ${ENV.platform} (e.g. US1) or ${ENV.gatewayUrl} to say which Qualys platform to use`,
    );
  }
  const apiOverride = str(env, ENV.apiUrl);
  if (!platform && !apiOverride && needsApi(opts.modules) && opts.modules !== undefined) {
    throw new ConfigError(
      `set ${ENV.platform} (e.g. US1) or ${ENV.apiUrl} to say which Qualys API server to use (${opts.modules
        .filter((m) => (API_MODULES as readonly string[]).includes(m))
        .join(', ')})`,
    );
  }
  const apiUrl = apiOverride
    ? parseUrl(apiOverride, ENV.apiUrl)
    : platform
      ? API_SERVERS[platform]
      : undefined;
  const gatewayUrl = gatewayOverride
    ? parseUrl(gatewayOverride, ENV.gatewayUrl)
    : platform
      ? PLATFORMS[platform]!
      : undefined;
  const pciOverride = str(env, ENV.pciUrl);
  return {
    platform,
    gatewayUrl,
    pciUrl: pciOverride ? parseUrl(pciOverride, ENV.pciUrl) : PCI_MERCHANT_URL,
    ...(apiUrl ? { apiUrl } : {}),
  };
}

/** The outbound proxy, as undici's EnvHttpProxyAgent understands it. Credentials stay inside the URLs. */
export interface ProxySettings {
  /** Proxy for http:// targets (and https:// ones when no HTTPS proxy is set). */
  httpProxy?: string;
  /** Proxy for https:// targets. */
  httpsProxy?: string;
  /** Comma- or space-separated hosts (`host`, `.domain`, `*.domain`, `host:port`, `*`) reached directly. */
  noProxy?: string;
}

/** `https_proxy` wins over `HTTPS_PROXY`, as in curl and undici. Returns [name used, trimmed value]. */
function proxyVar(env: Env, upper: string): [string, string | undefined] {
  const lower = upper.toLowerCase();
  const l = str(env, lower);
  return l !== undefined ? [lower, l] : [upper, str(env, upper)];
}

function proxyUrl(name: string, value: string): string {
  // curl accepts "proxy.corp:8080" without a scheme and means http://.
  const withScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value) ? value : `http://${value}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new ConfigError(`${name} is not a valid proxy URL (expected http://host:port)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// or https:// proxy URL, got '${u.protocol}//'`);
  }
  if (!u.hostname) throw new ConfigError(`${name} has no host (expected http://host:port)`);
  const problem = secretLengthProblem(
    u.password ? decodeURIComponent(u.password) : undefined,
    `the password in ${name}`,
  );
  if (problem) throw new ConfigError(problem);
  return u.href;
}

/**
 * HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and their lowercase spellings) → proxy settings, or undefined when no
 * proxy is configured. Both proxy variables are checked, so every bad one is reported.
 */
export function loadProxy(env: Env): ProxySettings | undefined {
  const p = new ConfigProblems();
  const [httpsName, https] = proxyVar(env, ENV.httpsProxy);
  const [httpName, http] = proxyVar(env, ENV.httpProxy);
  const httpsProxy = https === undefined ? undefined : p.take(() => proxyUrl(httpsName, https));
  const httpProxy = http === undefined ? undefined : p.take(() => proxyUrl(httpName, http));
  p.throwIfAny();
  if (!httpsProxy && !httpProxy) return undefined;
  return { httpProxy, httpsProxy, noProxy: proxyVar(env, ENV.noProxy)[1] };
}

function certviewFilter(env: Env): unknown {
  const v = str(env, ENV.certviewFilter);
  if (v === undefined) return undefined;
  if (v.startsWith('{')) {
    try {
      const parsed = JSON.parse(v) as unknown;
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      return parsed;
    } catch (err) {
      throw new ConfigError(
        `${ENV.certviewFilter} starts with '{' but is not a JSON object: ${(err as Error).message}`,
      );
    }
  }
  return v;
}

/**
 * event.datetime | event.eventprocesstime; also event.eventProcessedTime and the record's names dateTime /
 * eventProcessedTime, in any case. Sent as documented whatever the spelling.
 */
function edrTimeField(env: Env): EdrTimeField {
  const v = str(env, ENV.edrTimeField);
  if (v === undefined) return 'event.datetime';
  const field = edrTimeFieldOf(v);
  if (field) return field;
  throw new ConfigError(
    `${ENV.edrTimeField} must be event.datetime or event.eventprocesstime (event.eventProcessedTime is read as the latter), got '${v}'`,
  );
}

function edrState(env: Env): EdrState {
  const v = str(env, ENV.edrState);
  if (v === undefined) return 'false';
  const s = v.toLowerCase();
  if ((EDR_STATES as readonly string[]).includes(s)) return s as EdrState;
  throw new ConfigError(
    `${ENV.edrState} must be false (all events, as Qualys's add-on asks), true (active events only) or omit (no state parameter), got '${v}'`,
  );
}

function mobileMode(env: Env): MobileMode {
  const v = str(env, ENV.mobileMode);
  if (v === undefined) return 'snapshot';
  const m = v.toLowerCase();
  if ((MOBILE_MODES as readonly string[]).includes(m)) return m as MobileMode;
  throw new ConfigError(`${ENV.mobileMode} must be ${MOBILE_MODES.join(' or ')}, got '${v}'`);
}

function xmlMode(env: Env, name: string, dflt: MobileMode): MobileMode {
  const v = str(env, name);
  if (v === undefined) return dflt;
  const m = v.toLowerCase();
  if ((MOBILE_MODES as readonly string[]).includes(m)) return m as MobileMode;
  throw new ConfigError(`${name} must be ${MOBILE_MODES.join(' or ')}, got '${v}'`);
}

function xmlApiVersion<V extends string>(env: Env, name: string, versions: readonly V[]): 'auto' | V {
  const v = str(env, name);
  if (v === undefined || v.toLowerCase() === 'auto') return 'auto';
  const n = v.replace(/^v/i, '');
  const match = versions.find((x) => x === n || x === `${n}.0`);
  if (!match) throw new ConfigError(`${name} must be auto or one of ${versions.join(', ')}, got '${v}'`);
  return match;
}

/** Each flag parameter from its variable (0 or 1), its default otherwise. */
function flagParams(
  env: Env,
  flags: readonly { param: string; env: string; dflt: string }[],
  p: ConfigProblems,
) {
  const out: Record<string, string> = {};
  for (const f of flags) {
    out[f.param] = p.take(() => {
      const v = str(env, f.env) ?? f.dflt;
      if (v !== '0' && v !== '1') throw new ConfigError(`${f.env} must be 0 or 1, got '${v}'`);
      return v;
    }, f.dflt);
  }
  return out;
}

/** `key=value&key=value` (or comma-separated pairs) of further parameters; the exporter's own are refused. */
export function extraParams(
  env: Env,
  name: string,
  alsoOwned: readonly string[] = [],
): Record<string, string> {
  const v = str(env, name);
  if (v === undefined) return {};
  const out: Record<string, string> = {};
  for (const pair of v.split('&')) {
    if (!pair.trim()) continue;
    const eq = pair.indexOf('=');
    const key = (eq < 0 ? pair : pair.slice(0, eq)).trim();
    const value = eq < 0 ? '' : pair.slice(eq + 1).trim();
    if (!/^[a-z][a-z0-9_]{0,63}$/.test(key) || !value) {
      throw new ConfigError(
        `${name} must look like key=value&key=value (lower-case parameter names), got '${pair}'`,
      );
    }
    if ([...OWNED_XML_PARAMS, ...alsoOwned].includes(key)) {
      throw new ConfigError(`${name} may not set ${key}: the exporter sets it itself`);
    }
    if (key in out) throw new ConfigError(`${name} sets ${key} twice`);
    out[key] = value;
  }
  return out;
}

/** Everything but the credentials: what the exporters need. Every bad variable is reported, not only the first. */
export function loadConfig(env: Env, opts: LoadOptions = {}): AppConfig {
  const p = new ConfigProblems();
  const apiVersion = p.take(() => {
    const v = (str(env, ENV.certviewApiVersion) ?? 'v2').toLowerCase();
    if (!/^v\d{1,2}(\.\d{1,2}){0,2}$/.test(v)) {
      throw new ConfigError(
        `${ENV.certviewApiVersion} must be a CertView API version such as v1, v2, v2.1 or v2.2, got '${v}'`,
      );
    }
    return v;
  }, 'v2');
  const assetType = p.take(() => {
    const v = (str(env, ENV.certviewAssetType) ?? 'ALL').toUpperCase();
    if (!/^[A-Z][A-Z_]{0,31}$/.test(v)) {
      throw new ConfigError(
        `${ENV.certviewAssetType} must be an asset type such as ALL, MANAGED or UNMANAGED, got '${v}'`,
      );
    }
    return v;
  }, 'ALL');
  const timeField = p.take(() => edrTimeField(env), 'event.datetime' as EdrTimeField);
  const prefix = p.take(() => {
    const v = (str(env, ENV.prefix) ?? 'qualys').replace(/^\/+|\/+$/g, '');
    const problem = prefixProblem(v);
    if (problem) throw new ConfigError(`${ENV.prefix} ${problem}, got '${v}'`);
    return v;
  }, 'qualys');
  const includes = str(env, ENV.certviewIncludes);
  const edrFilter = p.take(() => {
    const v = str(env, ENV.edrFilter);
    if (v && /event\.(datetime|eventprocesstime|eventprocessedtime)\b/i.test(v)) {
      throw new ConfigError(
        `${ENV.edrFilter} must not contain event.datetime or event.eventprocesstime (nor event.eventProcessedTime): ` +
          `the exporter sets the time window itself (${ENV.edrTimeField} picks the field)`,
      );
    }
    return v;
  });
  const num = (name: string, dflt: number, min: number, max: number) =>
    p.take(() => int(env, name, dflt, min, max), dflt);
  p.add(logLevelProblem(env[ENV.logLevel], ENV.logLevel));
  p.take(() => loadProxy(env));
  const vmdrOwned = ['status', ...VMDR_FLAGS.map((f) => f.param)];
  const config: AppConfig = {
    endpoints: p.take(() => loadEndpoints(env, opts), { pciUrl: '' }),
    vm: { authMethod: p.take(() => vmAuthMethod(env), 'basic' as VmAuthMethod) },
    tokenCheck: {
      jwksUrl: p.take(() => {
        const v = str(env, ENV.jwksUrl);
        return v ? parseUrl(v, ENV.jwksUrl) : undefined;
      }),
      issuer: str(env, ENV.issuer),
      audience: str(env, ENV.audience),
      maxLifetimeSeconds: num(ENV.maxTokenLifetime, 86_400, 60, 30 * 86_400),
    },
    http: {
      timeoutMs: num(ENV.timeoutMs, 60_000, 1000, 900_000),
      maxRetries: num(ENV.maxRetries, 5, 0, 20),
      concurrency: num(ENV.concurrency, 2, 1, 16),
      rateReserve: num(ENV.rateReserve, 10, 0, 100_000),
      rateLimitFallbackSeconds: num(ENV.rateLimitFallbackSeconds, 3601, 1, 7 * 86_400),
      maxResponseBytes: num(
        ENV.maxResponseBytes,
        DEFAULT_BODY_LIMITS.maxResponseBytes,
        65_536,
        4 * 1024 ** 3,
      ),
      maxDecodedBytes: num(ENV.maxDecodedBytes, DEFAULT_BODY_LIMITS.maxDecodedBytes, 65_536, 4 * 1024 ** 3),
      maxWaitSeconds: num(ENV.maxWaitSeconds, DEFAULT_MAX_WAIT_SECONDS, 1, MAX_PLAUSIBLE_WAIT_SECONDS),
    },
    modules: {
      pci: { pageSize: num(ENV.pciPageSize, 1000, 1, 1000) },
      certview: {
        apiVersion,
        assetType,
        pageSize: num(ENV.certviewPageSize, 200, 1, 200),
        filter: p.take(() => certviewFilter(env)),
        includes: includes
          ? includes
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : undefined,
      },
      edr: {
        filter: edrFilter,
        timeField,
        pageSize: num(ENV.edrPageSize, 1000, 1, 5000),
        overlapMinutes: num(ENV.edrOverlapMinutes, 10, 0, 24 * 60),
        initialLookbackHours: num(ENV.edrInitialLookbackHours, 24, 1, 24 * 90),
        state: p.take(() => edrState(env), 'false'),
        indexingLagSeconds: num(ENV.edrIndexingLagSeconds, DEFAULT_INDEXING_LAG_SECONDS, 0, 3600),
      },
      mobile: {
        mode: p.take(() => mobileMode(env), 'snapshot'),
        truncationLimit: num(ENV.mobileTruncationLimit, 1000, 1, MOBILE_MAX_TRUNCATION_LIMIT),
        detectionUpdatedSince: p.take(() => isoDate(env, ENV.mobileDetectionUpdatedSince)),
        includeFields: str(env, ENV.mobileIncludeFields),
        overlapMinutes: num(ENV.mobileOverlapMinutes, 60, 0, 7 * 24 * 60),
        snapshotEveryHours: num(ENV.mobileSnapshotEveryHours, 168, 0, 366 * 24),
        indexingLagSeconds: num(ENV.mobileIndexingLagSeconds, DEFAULT_INDEXING_LAG_SECONDS, 0, 3600),
      },
      vmdr: {
        apiVersion: p.take(() => xmlApiVersion(env, ENV.vmdrApiVersion, VMDR_API_VERSIONS), 'auto' as const),
        truncationLimit: num(ENV.vmdrTruncationLimit, 1000, 0, 1_000_000),
        status: p.take(() => {
          const v = str(env, ENV.vmdrStatus) ?? 'New,Active,Fixed,Re-Opened';
          const states = v.split(',').map((x) => x.trim());
          const known = ['New', 'Active', 'Fixed', 'Re-Opened'];
          const bad = states.filter((x) => !known.includes(x));
          if (bad.length || !states.length) {
            throw new ConfigError(`${ENV.vmdrStatus} must list states among ${known.join(',')}, got '${v}'`);
          }
          return states.join(',');
        }, 'New,Active,Fixed,Re-Opened'),
        flags: flagParams(env, VMDR_FLAGS, p),
        extra: p.take(() => extraParams(env, ENV.vmdrExtraParams, vmdrOwned), {}),
        mode: p.take(() => xmlMode(env, ENV.vmdrMode, 'incremental'), 'incremental'),
        overlapMinutes: num(ENV.vmdrOverlapMinutes, 60, 0, 7 * 24 * 60),
        snapshotEveryHours: num(ENV.vmdrSnapshotEveryHours, 168, 0, 366 * 24),
        timeoutMs: num(ENV.vmdrTimeoutSeconds, 900, 1, 3600) * 1000,
      },
      kb: {
        apiVersion: p.take(() => xmlApiVersion(env, ENV.kbApiVersion, KB_API_VERSIONS), 'auto' as const),
        flags: flagParams(env, KB_FLAGS, p),
        extra: p.take(
          () =>
            extraParams(
              env,
              ENV.kbExtraParams,
              KB_FLAGS.map((f) => f.param),
            ),
          {},
        ),
        overlapMinutes: num(ENV.kbOverlapMinutes, 1440, 0, 30 * 24 * 60),
        snapshotEveryHours: num(ENV.kbSnapshotEveryHours, 168, 0, 366 * 24),
        timeoutMs: num(ENV.kbTimeoutSeconds, 1800, 1, 7200) * 1000,
      },
    },
    output: {
      prefix,
      partMaxBytes: num(ENV.partMaxBytes, 64 * 1024 * 1024, 1024, 4 * 1024 ** 3),
      partMaxRecords: num(ENV.partMaxRecords, 500_000, 1, 100_000_000),
      gzipLevel: num(ENV.gzipLevel, DEFAULT_GZIP_LEVEL, 1, 9),
      xmlSubPageChars: num(ENV.xmlSubPageKb, 1024, 1, 64 * 1024) * 1024,
    },
  };
  p.throwIfAny();
  return config;
}

const REQUIRED: Record<AuthMethod, (keyof Credentials)[]> = {
  'qualys-oidc': ['clientId', 'clientSecret'],
  'qualys-oauth': ['clientId', 'clientSecret'],
  'qualys-basic': ['username', 'password'],
  'idp-password': ['tokenUrl', 'clientId', 'username', 'password'],
  'idp-client-credentials': ['tokenUrl', 'clientId', 'clientSecret'],
};

const CRED_ENV: Record<keyof Credentials, string> = {
  method: ENV.authMethod,
  clientId: ENV.clientId,
  clientSecret: ENV.clientSecret,
  username: ENV.username,
  password: ENV.password,
  tokenUrl: ENV.tokenUrl,
  scope: ENV.scope,
};

/** The fields of a credentials set (gateway or PCI Merchant) that are checked the same way for both. */
interface CheckedFields {
  method: string;
  clientSecret?: string;
  password?: string;
  tokenUrl?: string;
}

/**
 * Every problem of a credentials set at once: missing fields (`required` for its method, a `what` such as
 * "auth method"), secrets too short to redact, a bad token URL. `name` names a field in errors.
 */
function checkCredentialFields<C extends CheckedFields>(
  c: C,
  required: readonly (keyof C & string)[],
  what: string,
  name: (field: keyof C & string) => string,
): C {
  const p = new ConfigProblems();
  for (const field of required) {
    if (!c[field]) p.add(`${name(field)} is required for ${what} ${c.method}`);
  }
  for (const field of ['clientSecret', 'password'] as const) {
    p.add(secretLengthProblem(c[field], name(field)));
  }
  const fields: CheckedFields = c;
  if (fields.tokenUrl) fields.tokenUrl = p.take(() => parseUrl(fields.tokenUrl!, name('tokenUrl')));
  p.throwIfAny();
  return c;
}

/** `value` (`fallback` when unset) if it is one of `allowed`; otherwise an error naming `name`. */
function oneOf<M extends string>(
  value: string | undefined,
  name: string,
  allowed: readonly M[],
  fallback: M,
): M {
  const m = value ?? fallback;
  if (!(allowed as readonly string[]).includes(m)) {
    throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got '${m}'`);
  }
  return m as M;
}

/** The fields every grant may use, gateway and PCI alike, read through `field`. */
function credentialValues(
  field: (
    k: 'clientId' | 'clientSecret' | 'username' | 'password' | 'tokenUrl' | 'scope',
  ) => string | undefined,
) {
  return {
    clientId: field('clientId'),
    clientSecret: field('clientSecret'),
    username: field('username'),
    password: field('password'),
    tokenUrl: field('tokenUrl'),
    scope: field('scope'),
  };
}

/** Gateway credentials read through `field` (an environment or a secret); `name` names a field in errors. */
function credentialsFrom(
  field: (k: keyof Credentials) => string | undefined,
  name: (k: keyof Credentials) => string,
): Credentials {
  const c: Credentials = {
    method: oneOf(field('method'), name('method'), AUTH_METHODS, 'qualys-oidc'),
    ...credentialValues(field),
  };
  return checkCredentialFields(c, REQUIRED[c.method], 'auth method', name);
}

/** Credentials from environment variables (the CLI). */
export function loadCredentials(env: Env): Credentials {
  return credentialsFrom(
    (k) => str(env, CRED_ENV[k]),
    (k) => CRED_ENV[k],
  );
}

/**
 * A credentials secret's JSON object (a string or already parsed), as a reader of its string fields. `source`
 * names the secret in errors, which never quote its values.
 */
function secretFields(value: unknown, source: string): (k: string) => string | undefined {
  let obj = value;
  if (typeof value === 'string') {
    try {
      obj = JSON.parse(value);
    } catch {
      throw new ConfigError(`${source} is not valid JSON (see docs/credentials.md for its format)`);
    }
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new ConfigError(`${source} must be a JSON object (see docs/credentials.md)`);
  }
  const o = obj as Record<string, unknown>;
  return (k) => {
    const v = o[k];
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ConfigError(`${source}: field '${k}' must be a string`);
    return v.trim() || undefined;
  };
}

/** Credentials from the credentials secret's JSON; `source` names the secret in errors (never its values). */
export function parseCredentials(value: unknown, source: string): Credentials {
  return credentialsFrom(secretFields(value, source), (f) => `${source}: field '${f}'`);
}

/** A one-line summary safe for logs (no credentials). */
export function describeConfig(cfg: AppConfig): string {
  return (
    `gateway=${cfg.endpoints.gatewayUrl ?? '(none)'} pci=${cfg.endpoints.pciUrl} api=${cfg.endpoints.apiUrl ?? '(none)'} ` +
    `vmAuth=${cfg.vm.authMethod} prefix=${cfg.output.prefix || '(none)'} ` +
    `concurrency=${cfg.http.concurrency} retries=${cfg.http.maxRetries} certview=${cfg.modules.certview.apiVersion} ` +
    `edrTimeField=${cfg.modules.edr.timeField} mobileMode=${cfg.modules.mobile.mode} vmdrMode=${cfg.modules.vmdr.mode} ` +
    `gzip=${cfg.output.gzipLevel}`
  );
}

// ------------------------------------------------------------------------------- PCI Merchant credentials

const PCI_REQUIRED: Record<PciAuthMethod, (keyof PciCredentials)[]> = {
  basic: ['username', 'password'],
  'idp-password': ['tokenUrl', 'clientId', 'username', 'password'],
  'idp-client-credentials': ['tokenUrl', 'clientId', 'clientSecret'],
};

const PCI_ENV: Record<keyof PciCredentials, string> = {
  method: ENV.pciAuthMethod,
  username: ENV.pciUsername,
  password: ENV.pciPassword,
  tokenUrl: ENV.pciTokenUrl,
  clientId: ENV.pciClientId,
  clientSecret: ENV.pciClientSecret,
  scope: ENV.pciScope,
};

/** PCI Merchant credentials read through `field` (an environment or a secret); `name` names a field in errors. */
function pciCredentialsFrom(
  field: (k: keyof PciCredentials) => string | undefined,
  name: (k: keyof PciCredentials) => string,
): PciCredentials {
  const c: PciCredentials = {
    method: oneOf(field('method'), name('method'), PCI_AUTH_METHODS, 'basic'),
    ...credentialValues(field),
  };
  return checkCredentialFields(c, PCI_REQUIRED[c.method], 'PCI auth method', name);
}

/** Are any gateway credentials set in the environment? (The CLI reports and requires only what is set.) */
export function hasGatewayCredentials(env: Env): boolean {
  return [ENV.authMethod, ENV.clientId, ENV.clientSecret, ENV.username, ENV.password, ENV.tokenUrl].some(
    (n) => str(env, n) !== undefined,
  );
}

/** Are any PCI Merchant credentials set in the environment? */
export function hasPciCredentials(env: Env): boolean {
  return Object.values(PCI_ENV).some((n) => str(env, n) !== undefined);
}

/** PCI Merchant credentials from QUALYS_PCI_* variables (the CLI). */
export function loadPciCredentials(env: Env): PciCredentials {
  return pciCredentialsFrom(
    (k) => str(env, PCI_ENV[k]),
    (k) => PCI_ENV[k],
  );
}

/**
 * The PCI credentials secret's JSON: `{"method":"basic","username":…,"password":…}` or an IdP method with its
 * fields. `source` names the secret in errors (never its values).
 */
export function parsePciCredentials(value: unknown, source: string): PciCredentials {
  return pciCredentialsFrom(secretFields(value, source), (f) => `${source}: field '${f}'`);
}

// ------------------------------------------------------------------------------- API server (VM) credentials

/** The Qualys user the API server modules send over HTTP Basic (QUALYS_VM_AUTH_METHOD=basic). */
export interface VmCredentials {
  username: string;
  password: string;
}

function vmCredentialsFrom(
  field: (k: 'username' | 'password') => string | undefined,
  name: (k: 'username' | 'password') => string,
  what: string,
): VmCredentials {
  const p = new ConfigProblems();
  const username = field('username');
  const password = field('password');
  if (!username) p.add(`${name('username')} is required for ${what}`);
  if (!password) p.add(`${name('password')} is required for ${what}`);
  p.add(secretLengthProblem(password, name('password')));
  p.throwIfAny();
  return { username: username!, password: password! };
}

const VM_BASIC = `the API server modules with ${ENV.vmAuthMethod}=basic (vmdr-detections, knowledgebase)`;

/** QUALYS_USERNAME / QUALYS_PASSWORD: the Qualys user the API server modules authenticate as (the CLI). */
export function loadVmCredentials(env: Env): VmCredentials {
  const names = { username: ENV.username, password: ENV.password };
  return vmCredentialsFrom(
    (k) => str(env, names[k]),
    (k) => names[k],
    VM_BASIC,
  );
}

/** The VM credentials secret's JSON, `{"username": …, "password": …}`; `source` names it in errors. */
export function parseVmCredentials(value: unknown, source: string): VmCredentials {
  return vmCredentialsFrom(secretFields(value, source), (f) => `${source}: field '${f}'`, VM_BASIC);
}
