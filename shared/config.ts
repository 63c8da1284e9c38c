/**
 * Typed configuration. ONE parser turns environment variables (and CLI flags, which the CLI maps onto the
 * same variable names) into these types, with a clear ConfigError naming the variable for every missing or
 * malformed value. Entry points call the parser; the core only ever receives these objects.
 *
 * Environment variable names (used by the CLI, Lambda and docs alike) are listed in ENV below.
 */

export const MODULES = ['pci-scans', 'certview-certificates', 'edr-events', 'mobile-assets'] as const;
export type ModuleName = (typeof MODULES)[number];

export const AUTH_METHODS = ['qualys-oidc', 'qualys-basic', 'idp-password', 'idp-client-credentials'] as const;
export type AuthMethod = (typeof AUTH_METHODS)[number];

/** Where the Qualys APIs live. Derived from QUALYS_PLATFORM, overridden by explicit URLs. */
export interface QualysEndpoints {
  platform?: string;
  /** Gateway origin: /auth, /auth/oidc, /certview, /ioc, /sem. No trailing slash. */
  gatewayUrl: string;
  /** PCI Merchant API origin. No trailing slash. */
  pciUrl: string;
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
}

export interface PciOptions {
  pageSize: number;
}
export interface CertviewOptions {
  apiVersion: 'v1' | 'v2';
  pageSize: number;
  /** Either the structured v2 filter object or a v1 QQL string. */
  filter?: unknown;
  includes?: string[];
}
export interface EdrOptions {
  /** QQL filter ANDed with the time window, e.g. `type:MUTEX`. */
  filter?: string;
  pageSize: number;
  overlapMinutes: number;
  /** First run (no committed window end): how far back to start. */
  initialLookbackHours: number;
}
export interface MobileOptions {
  truncationLimit: number;
  detectionUpdatedSince?: string;
  includeFields?: string;
}
export interface ModuleOptions {
  pci: PciOptions;
  certview: CertviewOptions;
  edr: EdrOptions;
  mobile: MobileOptions;
}

export interface OutputConfig {
  /** Key prefix inside the bucket / directory, no leading or trailing slash ('' allowed). */
  prefix: string;
  /** Roll over to a new part after this many uncompressed bytes. Default 64 MiB. */
  partMaxBytes: number;
  /** ... or this many records. Default 500,000. */
  partMaxRecords: number;
}

export interface AppConfig {
  endpoints: QualysEndpoints;
  tokenCheck: TokenCheckConfig;
  http: HttpConfig;
  modules: ModuleOptions;
  output: OutputConfig;
}

/** Environment variable names. Add new ones here, in the same style. */
export const ENV = {
  platform: 'QUALYS_PLATFORM',
  gatewayUrl: 'QUALYS_GATEWAY_URL',
  pciUrl: 'QUALYS_PCI_URL',
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
  pciPageSize: 'QUALYS_PCI_PAGE_SIZE',
  certviewApiVersion: 'QUALYS_CERTVIEW_API_VERSION',
  certviewPageSize: 'QUALYS_CERTVIEW_PAGE_SIZE',
  certviewFilter: 'QUALYS_CERTVIEW_FILTER',
  certviewIncludes: 'QUALYS_CERTVIEW_INCLUDES',
  edrFilter: 'QUALYS_EDR_FILTER',
  edrPageSize: 'QUALYS_EDR_PAGE_SIZE',
  edrOverlapMinutes: 'QUALYS_EDR_OVERLAP_MINUTES',
  edrInitialLookbackHours: 'QUALYS_EDR_INITIAL_LOOKBACK_HOURS',
  mobileTruncationLimit: 'QUALYS_MOBILE_TRUNCATION_LIMIT',
  mobileDetectionUpdatedSince: 'QUALYS_MOBILE_DETECTION_UPDATED_SINCE',
  mobileIncludeFields: 'QUALYS_MOBILE_INCLUDE_FIELDS',
  prefix: 'QEXPORT_PREFIX',
  partMaxBytes: 'QEXPORT_PART_MAX_BYTES',
  partMaxRecords: 'QEXPORT_PART_MAX_RECORDS',
  // AWS wiring (Lambda; CLI with --out s3://)
  bucket: 'QEXPORT_BUCKET',
  tokenSecretId: 'QEXPORT_TOKEN_SECRET_ID',
  credentialsSecretId: 'QEXPORT_CREDENTIALS_SECRET_ID',
  tokenRefreshFunction: 'QEXPORT_TOKEN_REFRESH_FUNCTION',
  refreshMarginMinutes: 'QEXPORT_REFRESH_MARGIN_MINUTES',
  logLevel: 'QEXPORT_LOG_LEVEL',
} as const;

export type Env = Record<string, string | undefined>;
