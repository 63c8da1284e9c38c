import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../../shared/errors';

/** Thin wrapper over node:util parseArgs that turns its errors into ConfigError (exit code 2). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      `qexport ${command}: ${msg.replace(/\. To specify.*$/s, '')} (see 'qexport ${command} --help')`,
    );
  }
}

/** Parses a positive integer flag, naming the flag in the error. */
export function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 0,
  max = 1e9,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(`--${name} must be a whole number, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max) throw new ConfigError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Parses a decimal flag such as --scale 0.5, naming the flag in the error. */
export function numberFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n))
    throw new ConfigError(`--${name} must be a number, got '${value}'`);
  if (n < min || n > max) throw new ConfigError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}
