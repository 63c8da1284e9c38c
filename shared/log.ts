/**
 * Structured JSON logger with secret redaction. Every value registered with `addSecret` is replaced by
 * `[REDACTED]` wherever it occurs as a value in a log line or message (never inside a longer word), and keys
 * that look like credentials are masked. Value-based redaction is why this is our own code: a logging
 * library's key-based masking would miss a token quoted inside an error message.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /(secret|password|token|authorization|credential|jwt)$/i;
const JWT_LIKE = /eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g;
const REDACTED = '[REDACTED]';

/**
 * Secrets shorter than this are refused by the configuration (ConfigError naming the variable): a value that
 * short is likely to occur as an ordinary word or number in a message ("wrong", "admin", "2024"), so masking
 * it would garble messages, and not masking it would print it. 8 is also the shortest memorised secret NIST
 * SP 800-63B allows, so no acceptable password is refused. Tokens and client secrets are far longer.
 */
export const MIN_SECRET_LENGTH = 8;

const secrets = new Set<string>();
/** `secrets`, longest first (so a secret that contains another is masked whole); rebuilt when one is added. */
let ordered: string[] = [];

/** The forms a secret takes in a message: as is, URL/form-encoded (request bodies, query strings), JSON-escaped. */
function formsOf(value: string): string[] {
  const forms = new Set([value]);
  forms.add(encodeURIComponent(value));
  forms.add(new URLSearchParams({ v: value }).toString().slice(2));
  forms.add(JSON.stringify(value).slice(1, -1));
  return [...forms];
}

/**
 * Registers a value (token, client secret, password) that must never be printed. Values shorter than
 * MIN_SECRET_LENGTH are not registered (returns false): the configuration refuses such credentials before
 * they are used (see `checkSecretLength`), and a short token is not something the APIs issue.
 */
export function addSecret(value: string | undefined | null): boolean {
  if (!value || value.length < MIN_SECRET_LENGTH) return false;
  const before = secrets.size;
  for (const form of formsOf(value)) secrets.add(form);
  if (secrets.size !== before) ordered = [...secrets].sort((a, b) => b.length - a.length);
  return true;
}

/** Why `value` cannot be used as a secret, or undefined when it can. Never includes the value itself. */
export function secretLengthProblem(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value.length >= MIN_SECRET_LENGTH) return undefined;
  return (
    `${name} is ${value.length} characters long; secrets must have at least ${MIN_SECRET_LENGTH} ` +
    'so they can be masked in logs without masking ordinary words (use the real value, not a placeholder)'
  );
}

const WORD = /[A-Za-z0-9]/;

/**
 * Replaces every whole occurrence of `secret` in `text`. An occurrence counts only where it stands as a value:
 * a secret whose first (last) character is a letter or digit must not be preceded (followed) by another letter
 * or digit, so a secret never masks part of a longer word or identifier.
 */
function replaceWhole(text: string, secret: string): string {
  let from = 0;
  let out = '';
  let at = text.indexOf(secret);
  if (at < 0) return text;
  const checkBefore = WORD.test(secret[0]!);
  const checkAfter = WORD.test(secret[secret.length - 1]!);
  while (at >= 0) {
    const before = at > 0 ? text[at - 1]! : '';
    const after = text[at + secret.length] ?? '';
    const whole = !(checkBefore && before && WORD.test(before)) && !(checkAfter && after && WORD.test(after));
    if (whole) {
      out += text.slice(from, at) + REDACTED;
      from = at + secret.length;
      at = text.indexOf(secret, from);
    } else {
      at = text.indexOf(secret, at + 1);
    }
  }
  return out + text.slice(from);
}

/** Replaces registered secrets (where they occur as values) and JWT-shaped strings in `text`. */
export function redact(text: string): string {
  let out = text;
  for (const s of ordered) out = replaceWhole(out, s);
  return out.replace(JWT_LIKE, REDACTED);
}

function scrub(value: unknown, key: string | undefined, depth: number): unknown {
  if (key && SECRET_KEY.test(key) && value !== undefined && value !== null && typeof value !== 'boolean') {
    return REDACTED;
  }
  if (typeof value === 'string') return redact(value);
  if (value instanceof Error) {
    return { name: value.name, message: redact(value.message), code: (value as { code?: unknown }).code };
  }
  if (depth > 6 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, undefined, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, k, depth + 1);
  return out;
}

export const LOG_LEVELS = Object.keys(LEVELS) as LogLevel[];

/**
 * QEXPORT_LOG_LEVEL → a level, leniently: anything unknown falls back to 'info'. Entry points use it to build
 * their logger before the configuration is checked, so the configuration error itself can be logged; the
 * configuration (`logLevelProblem`) then refuses the unknown value.
 */
export function parseLogLevel(value: string | undefined): LogLevel {
  const v = value?.trim().toLowerCase();
  return (LOG_LEVELS as string[]).includes(v ?? '') ? (v as LogLevel) : 'info';
}

/** Why `value` is not a log level (naming the allowed ones), or undefined when it is one or is unset. */
export function logLevelProblem(value: string | undefined, name: string): string | undefined {
  const v = value?.trim().toLowerCase();
  if (!v || (LOG_LEVELS as string[]).includes(v)) return undefined;
  return `${name} must be one of ${LOG_LEVELS.join(', ')}, got '${value}'`;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; defaults to stdout (warn/error to stderr). */
  write?: (line: string, level: LogLevel) => void;
  fields?: Record<string, unknown>;
}

const defaultWrite = (line: string, level: LogLevel): void => {
  if (level === 'warn' || level === 'error') process.stderr.write(line + '\n');
  else process.stdout.write(line + '\n');
};

export function createLogger(opts: LoggerOptions = {}): Logger {
  const min = LEVELS[opts.level ?? 'info'];
  const write = opts.write ?? defaultWrite;
  const base = opts.fields ?? {};
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (LEVELS[level] < min) return;
    const entry = scrub({ level, time: new Date().toISOString(), msg, ...base, ...fields }, undefined, 0);
    write(JSON.stringify(entry), level);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...opts, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests, quiet CLI). */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
