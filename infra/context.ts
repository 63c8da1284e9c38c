import {
  API_MODULES,
  ENV,
  loadConfig,
  MODULES,
  needsApi,
  needsGateway,
  parseUrl,
  PLATFORMS,
  type ModuleName,
} from '../shared/config';
import { ConfigError } from '../shared/errors';

/** Stack settings, read from `cdk.json` context (or `-c key=value`). Every bad value names its key. */
export interface StackSettings {
  /** Key prefix in the bucket. */
  prefix: string;
  /** Use an existing bucket by name instead of creating one. */
  existingBucketName?: string;
  /**
   * The customer-managed KMS key the existing bucket encrypts with (SSE-KMS): its key ARN. The functions and the
   * reader policy get exactly the KMS actions S3 needs on it, only through S3.
   */
  bucketKmsKeyArn?: string;
  /** SSE-KMS with a customer-managed key instead of SSE-S3 (a bucket this stack creates only). */
  kms: boolean;
  versioned: boolean;
  /** Expire exported data after this many days (0 = never); never the checkpoints or the catalogue manifests. */
  retentionDays: number;
  /** With `versioned`: noncurrent object versions expire this many days after they were replaced. */
  noncurrentVersionDays: number;
  /** The proxy variables of the top-level `exporterEnv` (for functions that belong to no tenant). */
  proxyEnv: Record<string, string>;
  /** Every function of the stack runs in these subnets (fixed egress through a NAT gateway, or a proxy). */
  vpc?: VpcSettings;
  /**
   * First `dt` the Glue tables project (YYYY-MM-DD). Unset: at deploy, the earliest `dt` already in the bucket
   * under the tables' locations, or the deploy date when there is none (infra/partition-start.ts).
   */
  partitionStartDate?: string;
  /** One of LOG_RETENTION_DAYS (the values CloudWatch Logs accepts). */
  logRetentionDays: number;
  alarmEmail?: string;
  /** "No run completed" alarms fire after this many schedule periods without a completed run. */
  alarmNoRunPeriods: number;
  /** Freshness alarms fire when the data is older than this many schedule periods. */
  alarmFreshnessPeriods: number;
  /** Token-age alarm threshold (minutes). */
  alarmTokenAgeMinutes: number;
  /** Where docs/runbook.md is published (alarm descriptions link to its sections); default: the repo path. */
  runbookUrl: string;
  /**
   * The Qualys subscriptions this stack exports. Without a `tenants` context key: one implicit tenant (no id)
   * built from the top-level keys, exactly the single-tenant stack of earlier releases.
   */
  tenants: TenantSettings[];
  /** True when the context lists `tenants` (each then lives in its own nested stack under `<prefix>/<id>/`). */
  multiTenant: boolean;
}

/** Where the functions run when they run in a VPC. */
export interface VpcSettings {
  subnetIds: string[];
  /** The functions' security groups; without them the stack creates one in `vpcId` (HTTPS out only). */
  securityGroupIds?: string[];
  vpcId?: string;
}

/** One Qualys subscription: its own secrets, functions, loops, schedules, alarms and S3 prefix. */
export interface TenantSettings {
  /** Short id used in names, the `Tenant` metric dimension and the S3 prefix; absent for the implicit tenant. */
  id?: string;
  /** Where this tenant's values live in the context, for messages: `tenants[1]`, or '' for the implicit one. */
  key: string;
  platform?: string;
  gatewayUrl?: string;
  pciUrl?: string;
  /** API server (`qualysapi…`) for vmdr-detections and knowledgebase; derived from `platform` when absent. */
  apiUrl?: string;
  /** The modules this tenant exports (others get no function, loop, schedule or alarm). */
  modules: ModuleName[];
  /** EventBridge Scheduler expressions, or 'disabled'. */
  tokenRefreshSchedule: string;
  schedules: Record<ModuleName, string>;
  /** QUALYS_* variables for this tenant's functions: the stack-wide `exporterEnv` with the tenant's on top. */
  exporterEnv: Record<string, string>;
  /** This tenant's alarms also go to a topic of its own with this address subscribed. */
  alarmEmail?: string;
}

/** The retention periods (days) CloudWatch Logs accepts; any other value fails at deploy time. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

export const DEFAULT_SCHEDULES: Record<ModuleName, string> = {
  'pci-scans': 'rate(1 day)',
  'certview-certificates': 'rate(1 day)',
  'edr-events': 'rate(1 hour)',
  'mobile-assets': 'rate(6 hours)',
  // Increments by vm_processed_after; a full snapshot every QUALYS_VMDR_SNAPSHOT_EVERY_HOURS (default 168).
  'vmdr-detections': 'rate(6 hours)',
  // Increments by last_modified_after; Qualys changes the KB a few times a day.
  knowledgebase: 'rate(1 day)',
};

export class ContextError extends Error {}

type Ctx = (key: string) => unknown;

function str(ctx: Ctx, key: string): string | undefined {
  const v = ctx(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ContextError(`context '${key}' must be a string`);
  return v;
}

function bool(ctx: Ctx, key: string, dflt: boolean): boolean {
  const v = ctx(key);
  if (v === undefined) return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new ContextError(`context '${key}' must be true or false, got '${String(v)}'`);
}

function int(ctx: Ctx, key: string, dflt: number, min: number, max: number): number {
  const v = ctx(key);
  if (v === undefined) return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ContextError(
      `context '${key}' must be a whole number between ${min} and ${max}, got '${String(v)}'`,
    );
  }
  return n;
}

const SCHEDULE = /^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\)|disabled)$/;

function schedule(ctx: Ctx, key: string, dflt: string): string {
  return scheduleOf(str(ctx, key) ?? dflt, key);
}

function scheduleOf(v: string, key: string): string {
  if (!SCHEDULE.test(v)) {
    throw new ContextError(`context '${key}' must be rate(N unit), cron(...) or 'disabled', got '${v}'`);
  }
  return v;
}

/** Seconds between runs of a rate() schedule (sizes the alarms); a cron() schedule is taken as daily. */
export function scheduleSeconds(expr: string): number {
  const m = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(expr);
  if (!m) return 86_400;
  const n = Number(m[1]);
  return n * (m[2] === 'minute' ? 60 : m[2] === 'hour' ? 3600 : 86_400);
}

/** A list given as an array, a JSON array string (`-c 'subnetIds=["subnet-…"]'`) or a comma-separated string. */
function idList(ctx: Ctx, key: string, kind: string, pattern: RegExp): string[] | undefined {
  let v = ctx(key);
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'string') {
    const text = v.trim();
    if (text.startsWith('[')) {
      try {
        v = JSON.parse(text);
      } catch (err) {
        throw new ContextError(`context '${key}' is not valid JSON: ${(err as Error).message}`);
      }
    } else v = text.split(',').map((x) => x.trim());
  }
  if (!Array.isArray(v) || v.length === 0) {
    throw new ContextError(
      `context '${key}' must be a non-empty list of ${kind} ids, e.g. ["${kind}-0abc1234"]`,
    );
  }
  const seen = new Set<string>();
  for (const id of v) {
    if (typeof id !== 'string' || !pattern.test(id)) {
      throw new ContextError(`context '${key}' lists '${String(id)}', which is not a ${kind} id (${kind}-…)`);
    }
    if (seen.has(id)) throw new ContextError(`context '${key}' lists '${id}' twice`);
    seen.add(id);
  }
  return [...seen];
}

const SUBNET_ID = /^subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const VPC_ID = /^vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;

function vpcOf(ctx: Ctx): VpcSettings | undefined {
  const subnetIds = idList(ctx, 'subnetIds', 'subnet', SUBNET_ID);
  const securityGroupIds = idList(ctx, 'securityGroupIds', 'sg', SECURITY_GROUP_ID);
  const vpcId = str(ctx, 'vpcId');
  if (vpcId !== undefined && !VPC_ID.test(vpcId)) {
    throw new ContextError(`context 'vpcId' must be a VPC id (vpc-…), got '${vpcId}'`);
  }
  if (!subnetIds) {
    if (securityGroupIds || vpcId) {
      throw new ContextError(
        `context '${securityGroupIds ? 'securityGroupIds' : 'vpcId'}' is set but 'subnetIds' is not: name the subnets the functions run in`,
      );
    }
    return undefined;
  }
  if (!securityGroupIds && !vpcId) {
    throw new ContextError(
      "context 'subnetIds' needs the functions' security groups: set 'securityGroupIds', or 'vpcId' (the VPC of those subnets) for the stack to create one that allows HTTPS out",
    );
  }
  if (securityGroupIds && vpcId) {
    throw new ContextError(
      "context 'vpcId' is only used to create the functions' security group; with 'securityGroupIds' leave it out",
    );
  }
  return { subnetIds, ...(securityGroupIds ? { securityGroupIds } : { vpcId }) };
}

/** A KMS key ARN (not an alias: IAM grants on an alias ARN do not cover using the key). */
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/;

function bucketKeyOf(ctx: Ctx, bucketName: string | undefined, kms: boolean): string | undefined {
  const arn = str(ctx, 'bucketKmsKeyArn');
  if (kms && bucketName) {
    throw new ContextError(
      `context 'kms' creates a new key for a bucket this stack creates, but 'bucketName' (${bucketName}) is an existing bucket that keeps its own encryption: ` +
        "leave 'kms' out, and if that bucket uses SSE-KMS with a customer-managed key, name it with 'bucketKmsKeyArn'",
    );
  }
  if (arn === undefined) return undefined;
  if (/^arn:aws[a-z-]*:kms:[^:]*:[^:]*:alias\//.test(arn) || arn.startsWith('alias/')) {
    throw new ContextError(
      `context 'bucketKmsKeyArn' must be the key's ARN, not an alias (IAM permissions on an alias ARN do not let anyone use the key): ` +
        `aws kms describe-key --key-id ${arn} --query KeyMetadata.Arn`,
    );
  }
  if (!KMS_KEY_ARN.test(arn)) {
    throw new ContextError(
      `context 'bucketKmsKeyArn' must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got '${arn}'`,
    );
  }
  if (!bucketName) {
    throw new ContextError(
      "context 'bucketKmsKeyArn' names the key of an existing bucket: set 'bucketName' too (for a bucket this stack creates, use 'kms=true')",
    );
  }
  return arn;
}

/** `partitionStartDate`: a real calendar date, not after `today` (a later start would hide the partitions before it). */
function startDateOf(ctx: Ctx, today: Date): string | undefined {
  const v = str(ctx, 'partitionStartDate');
  if (v === undefined) return undefined;
  const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T00:00:00Z`) : undefined;
  if (!d || Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== v) {
    throw new ContextError(`context 'partitionStartDate' must be a date YYYY-MM-DD, got '${v}'`);
  }
  if (v > today.toISOString().slice(0, 10)) {
    throw new ContextError(
      `context 'partitionStartDate' (${v}) is after today: the tables would hide every partition written before it`,
    );
  }
  return v;
}

/** Lifecycle settings only apply to a bucket this stack creates. */
function checkManagedBucket(ctx: Ctx, bucketName: string | undefined): void {
  if (!bucketName) return;
  for (const key of ['retentionDays', 'versioned', 'noncurrentVersionDays']) {
    const v = ctx(key);
    if (v === undefined || v === null || v === 0 || v === '0' || v === false || v === 'false') continue;
    throw new ContextError(
      `context '${key}' configures a bucket this stack creates, but 'bucketName' (${bucketName}) is an existing bucket the stack does not manage: ` +
        'leave it out and set the bucket\'s versioning and lifecycle rules yourself (docs/deploy.md, "Retention")',
    );
  }
}

function logRetention(ctx: Ctx): number {
  const v = ctx('logRetentionDays');
  if (v === undefined) return 90;
  const n = typeof v === 'number' ? v : Number(v);
  if (!(LOG_RETENTION_DAYS as readonly number[]).includes(n)) {
    throw new ContextError(
      `context 'logRetentionDays' must be one of the values CloudWatch Logs accepts (${LOG_RETENTION_DAYS.join(', ')}), got '${String(v)}'`,
    );
  }
  return n;
}

/** What a tenant id looks like: DNS- and S3-safe, short enough for every name built from it. */
/** `edr-events` → `EdrEvents`, `pci_scans_latest` → `PciScansLatest`: construct ids from names. */
export function pascal(s: string): string {
  return s.replace(/(^|[-_])([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase());
}

export const TENANT_ID = /^[a-z](?:[a-z0-9]|-(?!-)){0,18}[a-z0-9]$|^[a-z]$/;
/** Ids a tenant may not take: its prefix would mix with a single-tenant layout under the same `prefix`. */
const RESERVED_TENANT_IDS: readonly string[] = [...MODULES, 'manifests'];
const TENANT_KEYS = [
  'id',
  'platform',
  'gatewayUrl',
  'pciUrl',
  'apiUrl',
  'modules',
  'schedules',
  'exporterEnv',
  'alarmEmail',
] as const;

/**
 * Variables that never belong in a function's environment: credentials live in the tenant's secrets (an
 * environment variable is visible to anyone who can read the function's configuration).
 */
const CREDENTIAL_VARIABLES: readonly string[] = [
  ENV.authMethod,
  ENV.clientId,
  ENV.clientSecret,
  ENV.username,
  ENV.password,
  ENV.tokenUrl,
  ENV.scope,
  ENV.pciAuthMethod,
  ENV.pciUsername,
  ENV.pciPassword,
  ENV.pciTokenUrl,
  ENV.pciClientId,
  ENV.pciClientSecret,
  ENV.pciScope,
];
/** Corporate proxy settings the functions honour for Qualys and IdP calls (docs/operations.md). */
export const PROXY_VARIABLES: readonly string[] = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'];

/** Variables with a context key of their own. */
const OWN_KEY_VARIABLES: Record<string, string> = {
  [ENV.platform]: 'platform',
  [ENV.gatewayUrl]: 'gatewayUrl',
  [ENV.pciUrl]: 'pciUrl',
  [ENV.apiUrl]: 'apiUrl',
};

const at = (base: string, k: string) => (base ? `${base}.${k}` : k);

function exporterEnvOf(value: unknown, key: string): Record<string, string> {
  const v = value ?? {};
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new ContextError(`context '${key}' must be an object of QUALYS_* variables`);
  }
  for (const [k, val] of Object.entries(v)) {
    if (!(/^QUALYS_[A-Z_]+$/.test(k) || PROXY_VARIABLES.includes(k)) || typeof val !== 'string') {
      throw new ContextError(
        `context '${key}' may only set QUALYS_* and ${PROXY_VARIABLES.join(' / ')} string variables (got '${k}')`,
      );
    }
    if (PROXY_VARIABLES.includes(k) && /^[a-z][a-z0-9+.-]*:\/\/[^/]*@/i.test(val)) {
      throw new ContextError(
        `context '${key}.${k}': a proxy URL with a user or password would be readable in the function's ` +
          'configuration; use a proxy that admits the functions by network (VPC, security group) instead',
      );
    }
    if (CREDENTIAL_VARIABLES.includes(k)) {
      throw new ContextError(
        `context '${key}.${k}': credentials go in the credentials secret (docs/credentials.md), never in a function's environment`,
      );
    }
    if (k in OWN_KEY_VARIABLES) {
      const own = OWN_KEY_VARIABLES[k]!;
      throw new ContextError(
        `context '${key}.${k}': set it with the '${key.replace(/exporterEnv$/, '')}${own}' key instead`,
      );
    }
  }
  return v as Record<string, string>;
}

function modulesOf(value: unknown, key: string, dflt: ModuleName[]): ModuleName[] {
  if (value === undefined || value === null) return dflt;
  const list = typeof value === 'string' ? value.split(',').map((m) => m.trim()) : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new ContextError(`context '${key}' must be a non-empty list of modules (${MODULES.join(', ')})`);
  }
  const seen = new Set<string>();
  for (const m of list) {
    if (typeof m !== 'string' || !(MODULES as readonly string[]).includes(m)) {
      throw new ContextError(
        `context '${key}' lists '${String(m)}', which is not one of ${MODULES.join(', ')}`,
      );
    }
    if (seen.has(m)) throw new ContextError(`context '${key}' lists '${m}' twice`);
    seen.add(m);
  }
  // In the canonical order, so names and templates do not depend on how the list was written.
  return MODULES.filter((m) => seen.has(m));
}

function platformOf(v: string | undefined, key: string): string | undefined {
  if (v && !(v.toUpperCase() in PLATFORMS)) {
    throw new ContextError(
      `context '${key}' must be one of ${Object.keys(PLATFORMS).join(', ')}, got '${v}'`,
    );
  }
  return v?.toUpperCase();
}

function urlOf(v: string | undefined, key: string): string | undefined {
  if (v === undefined) return undefined;
  try {
    return parseUrl(v, `context '${key}'`);
  } catch (err) {
    throw new ContextError((err as Error).message);
  }
}

function emailOf(v: string | undefined, key: string): string | undefined {
  if (v !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v)) {
    throw new ContextError(`context '${key}' must be an e-mail address, got '${v}'`);
  }
  return v;
}

/**
 * The function environment a tenant's settings produce, checked with the exporters' own parser, so a value
 * they would refuse at run time (QUALYS_CONCURRENCY=0, a page size out of range, …) stops the synth instead,
 * naming the context key.
 */
function checkTenantConfig(t: TenantSettings): void {
  const where = t.key || 'the top-level context';
  const vmAuth = t.exporterEnv[ENV.vmAuthMethod]?.trim().toLowerCase() === 'bearer' ? 'bearer' : 'basic';
  if (!t.platform && !t.gatewayUrl && needsGateway(t.modules, vmAuth)) {
    throw new ContextError(
      `context '${at(t.key, 'platform')}' (or '${at(t.key, 'gatewayUrl')}') must be set: ${where} exports ${t.modules.filter((m) => m !== 'pci-scans').join(', ')}, which call the Qualys gateway`,
    );
  }
  if (!t.platform && !t.apiUrl && needsApi(t.modules)) {
    throw new ContextError(
      `context '${at(t.key, 'platform')}' (or '${at(t.key, 'apiUrl')}') must be set: ${where} exports ${t.modules.filter((m) => (API_MODULES as readonly string[]).includes(m)).join(', ')}, which call the Qualys API server`,
    );
  }
  const env: Record<string, string> = { ...t.exporterEnv };
  if (t.platform) env[ENV.platform] = t.platform;
  if (t.gatewayUrl) env[ENV.gatewayUrl] = t.gatewayUrl;
  if (t.pciUrl) env[ENV.pciUrl] = t.pciUrl;
  if (t.apiUrl) env[ENV.apiUrl] = t.apiUrl;
  try {
    loadConfig(env, { modules: t.modules });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    throw new ContextError(`context '${at(t.key, 'exporterEnv')}': ${err.message}`);
  }
}

/** A tenant object from the `tenants` list, with the top-level keys as its defaults. */
function readTenant(raw: unknown, i: number, defaults: TenantSettings): TenantSettings {
  const key = `tenants[${i}]`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ContextError(`context '${key}' must be an object with at least an 'id'`);
  }
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(TENANT_KEYS as readonly string[]).includes(k)) {
      throw new ContextError(
        `context '${key}.${k}' is not a tenant setting (one of ${TENANT_KEYS.join(', ')})`,
      );
    }
  }
  const get: Ctx = (k) => o[k];
  const id = str(get, 'id');
  if (id === undefined) throw new ContextError(`context '${key}.id' is required`);
  if (!TENANT_ID.test(id)) {
    throw new ContextError(
      `context '${key}.id' must be 1-20 lower-case letters, digits and single hyphens, starting with a letter and not ending with a hyphen (it is used in resource names and S3 keys), got '${id}'`,
    );
  }
  if (RESERVED_TENANT_IDS.includes(id)) {
    throw new ContextError(
      `context '${key}.id' may not be '${id}' (reserved: ${RESERVED_TENANT_IDS.join(', ')})`,
    );
  }
  const sched = o.schedules ?? {};
  if (typeof sched !== 'object' || Array.isArray(sched)) {
    throw new ContextError(
      `context '${key}.schedules' must be an object such as {"edr-events": "rate(2 hours)"}`,
    );
  }
  const scheduleKeys = ['token-refresh', ...MODULES];
  for (const k of Object.keys(sched)) {
    if (!scheduleKeys.includes(k)) {
      throw new ContextError(
        `context '${key}.schedules.${k}' is not a schedule (one of ${scheduleKeys.join(', ')})`,
      );
    }
  }
  const tenantSchedule = (name: string, dflt: string) => {
    const v = (sched as Record<string, unknown>)[name];
    if (v !== undefined && typeof v !== 'string') {
      throw new ContextError(`context '${key}.schedules.${name}' must be a string`);
    }
    return scheduleOf(v ?? dflt, `${key}.schedules.${name}`);
  };
  return {
    id,
    key,
    platform: platformOf(str(get, 'platform'), `${key}.platform`) ?? defaults.platform,
    gatewayUrl: urlOf(str(get, 'gatewayUrl'), `${key}.gatewayUrl`) ?? defaults.gatewayUrl,
    pciUrl: urlOf(str(get, 'pciUrl'), `${key}.pciUrl`) ?? defaults.pciUrl,
    apiUrl: urlOf(str(get, 'apiUrl'), `${key}.apiUrl`) ?? defaults.apiUrl,
    modules: modulesOf(o.modules, `${key}.modules`, defaults.modules),
    tokenRefreshSchedule: tenantSchedule('token-refresh', defaults.tokenRefreshSchedule),
    schedules: Object.fromEntries(
      MODULES.map((m) => [m, tenantSchedule(m, defaults.schedules[m])]),
    ) as Record<ModuleName, string>,
    exporterEnv: { ...defaults.exporterEnv, ...exporterEnvOf(o.exporterEnv, `${key}.exporterEnv`) },
    alarmEmail: emailOf(str(get, 'alarmEmail'), `${key}.alarmEmail`),
  };
}

function readTenants(value: unknown, defaults: TenantSettings): TenantSettings[] {
  let list = value;
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value);
    } catch (err) {
      throw new ContextError(`context 'tenants' is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!Array.isArray(list) || list.length === 0) {
    throw new ContextError(`context 'tenants' must be a non-empty list of tenant objects ({"id": "…", …})`);
  }
  const tenants = list.map((raw, i) => readTenant(raw, i, defaults));
  const first = new Map<string, string>();
  for (const t of tenants) {
    const seen = first.get(t.id!);
    if (seen) throw new ContextError(`context '${t.key}.id' '${t.id}' is already the id of ${seen}`);
    first.set(t.id!, t.key);
  }
  return tenants;
}

export function readSettings(ctx: Ctx, today: Date = new Date()): StackSettings {
  const platform = platformOf(str(ctx, 'platform'), 'platform');
  const exporterEnv = exporterEnvOf(ctx('exporterEnv'), 'exporterEnv');
  const prefix = (str(ctx, 'prefix') ?? 'qualys').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(prefix))
    throw new ContextError(`context 'prefix' is not a valid key prefix: '${prefix}'`);
  const modules = modulesOf(ctx('modules'), 'modules', [...MODULES]);
  const tokenRefreshSchedule = schedule(ctx, 'schedule:token-refresh', 'rate(30 minutes)');
  const schedules = Object.fromEntries(
    MODULES.map((m) => [m, schedule(ctx, `schedule:${m}`, DEFAULT_SCHEDULES[m])]),
  ) as Record<ModuleName, string>;
  // Checked here, but passed on as written (the single-tenant template keeps its exact values).
  const gatewayUrl = str(ctx, 'gatewayUrl');
  const pciUrl = str(ctx, 'pciUrl');
  const apiUrl = str(ctx, 'apiUrl');
  urlOf(gatewayUrl, 'gatewayUrl');
  urlOf(pciUrl, 'pciUrl');
  urlOf(apiUrl, 'apiUrl');
  const implicit: TenantSettings = {
    key: '',
    platform,
    gatewayUrl,
    pciUrl,
    ...(apiUrl ? { apiUrl } : {}),
    modules,
    tokenRefreshSchedule,
    schedules,
    exporterEnv,
  };
  const tenantsValue = ctx('tenants');
  const multiTenant = tenantsValue !== undefined && tenantsValue !== null && tenantsValue !== '';
  const tenants = multiTenant
    ? readTenants(tenantsValue, {
        ...implicit,
        gatewayUrl: urlOf(gatewayUrl, 'gatewayUrl'),
        pciUrl: urlOf(pciUrl, 'pciUrl'),
        apiUrl: urlOf(apiUrl, 'apiUrl'),
      })
    : [implicit];
  for (const t of tenants) checkTenantConfig(t);
  const existingBucketName = str(ctx, 'bucketName');
  const kms = bool(ctx, 'kms', false);
  checkManagedBucket(ctx, existingBucketName);
  const vpc = vpcOf(ctx);
  return {
    prefix,
    existingBucketName,
    bucketKmsKeyArn: bucketKeyOf(ctx, existingBucketName, kms),
    kms,
    versioned: bool(ctx, 'versioned', false),
    retentionDays: int(ctx, 'retentionDays', 0, 0, 36_500),
    noncurrentVersionDays: int(ctx, 'noncurrentVersionDays', 7, 1, 3650),
    proxyEnv: Object.fromEntries(Object.entries(exporterEnv).filter(([k]) => PROXY_VARIABLES.includes(k))),
    ...(vpc ? { vpc } : {}),
    partitionStartDate: startDateOf(ctx, today),
    logRetentionDays: logRetention(ctx),
    alarmEmail: emailOf(str(ctx, 'alarmEmail'), 'alarmEmail'),
    alarmNoRunPeriods: int(ctx, 'alarmNoRunPeriods', 2, 1, 10),
    alarmFreshnessPeriods: int(ctx, 'alarmFreshnessPeriods', 3, 2, 30),
    alarmTokenAgeMinutes: int(ctx, 'alarmTokenAgeMinutes', 240, 30, 10_080),
    runbookUrl: str(ctx, 'runbookUrl') ?? 'docs/runbook.md',
    tenants,
    multiTenant,
  };
}

/** Where a tenant's data, state and manifests live in the bucket: `<prefix>` alone, or `<prefix>/<id>`. */
export function tenantPrefix(prefix: string, tenant: Pick<TenantSettings, 'id'>): string {
  return tenant.id ? `${prefix}/${tenant.id}` : prefix;
}
