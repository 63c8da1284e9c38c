import { MODULES, PLATFORMS, type ModuleName } from '../shared/config';

/** Stack settings, read from `cdk.json` context (or `-c key=value`). Every bad value names its key. */
export interface StackSettings {
  /** Key prefix in the bucket. */
  prefix: string;
  /** Use an existing bucket by name instead of creating one. */
  existingBucketName?: string;
  /** SSE-KMS with a customer-managed key instead of SSE-S3. */
  kms: boolean;
  versioned: boolean;
  /** Expire exported objects after this many days (0 = never). */
  retentionDays: number;
  /** One of LOG_RETENTION_DAYS (the values CloudWatch Logs accepts). */
  logRetentionDays: number;
  platform?: string;
  gatewayUrl?: string;
  pciUrl?: string;
  /** EventBridge Scheduler expressions, or 'disabled'. */
  tokenRefreshSchedule: string;
  schedules: Record<ModuleName, string>;
  /** Extra environment for the exporters (QUALYS_* module options). */
  exporterEnv: Record<string, string>;
  alarmEmail?: string;
  /** "No run completed" alarms fire after this many schedule periods without a completed run. */
  alarmNoRunPeriods: number;
  /** Freshness alarms fire when the data is older than this many schedule periods. */
  alarmFreshnessPeriods: number;
  /** Token-age alarm threshold (minutes). */
  alarmTokenAgeMinutes: number;
  /** Where docs/runbook.md is published (alarm descriptions link to its sections); default: the repo path. */
  runbookUrl: string;
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
  const v = str(ctx, key) ?? dflt;
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

export function readSettings(ctx: Ctx): StackSettings {
  const platform = str(ctx, 'platform');
  if (platform && !(platform.toUpperCase() in PLATFORMS)) {
    throw new ContextError(
      `context 'platform' must be one of ${Object.keys(PLATFORMS).join(', ')}, got '${platform}'`,
    );
  }
  const exporterEnv = ctx('exporterEnv') ?? {};
  if (typeof exporterEnv !== 'object' || Array.isArray(exporterEnv)) {
    throw new ContextError("context 'exporterEnv' must be an object of QUALYS_* variables");
  }
  for (const [k, v] of Object.entries(exporterEnv)) {
    if (!/^QUALYS_[A-Z_]+$/.test(k) || typeof v !== 'string') {
      throw new ContextError(`context 'exporterEnv' may only set QUALYS_* string variables (got '${k}')`);
    }
  }
  const prefix = (str(ctx, 'prefix') ?? 'qualys').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(prefix))
    throw new ContextError(`context 'prefix' is not a valid key prefix: '${prefix}'`);
  return {
    prefix,
    existingBucketName: str(ctx, 'bucketName'),
    kms: bool(ctx, 'kms', false),
    versioned: bool(ctx, 'versioned', false),
    retentionDays: int(ctx, 'retentionDays', 0, 0, 36_500),
    logRetentionDays: logRetention(ctx),
    platform: platform?.toUpperCase(),
    gatewayUrl: str(ctx, 'gatewayUrl'),
    pciUrl: str(ctx, 'pciUrl'),
    tokenRefreshSchedule: schedule(ctx, 'schedule:token-refresh', 'rate(30 minutes)'),
    schedules: Object.fromEntries(
      MODULES.map((m) => [m, schedule(ctx, `schedule:${m}`, DEFAULT_SCHEDULES[m])]),
    ) as Record<ModuleName, string>,
    exporterEnv: exporterEnv as Record<string, string>,
    alarmEmail: str(ctx, 'alarmEmail'),
    alarmNoRunPeriods: int(ctx, 'alarmNoRunPeriods', 2, 1, 10),
    alarmFreshnessPeriods: int(ctx, 'alarmFreshnessPeriods', 3, 2, 30),
    alarmTokenAgeMinutes: int(ctx, 'alarmTokenAgeMinutes', 240, 30, 10_080),
    runbookUrl: str(ctx, 'runbookUrl') ?? 'docs/runbook.md',
  };
}
