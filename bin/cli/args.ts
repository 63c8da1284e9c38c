import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../../shared/errors';

/** Stands in for a text argument while parseArgs runs (a character no command line holds). */
const TEXT = String.fromCharCode(0);

/** Flags renamed because Node.js intercepts them: old spelling → new one. */
const RENAMED: Record<string, string> = { 'env-file': 'dotenv' };

/**
 * Thin wrapper over node:util parseArgs that turns its errors into one-line ConfigErrors (exit code 2), and
 * refuses renamed flags naming their new spelling.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
) {
  for (const arg of argv) {
    if (arg === '--') break;
    const m = /^--([^=]+)/.exec(arg);
    const renamed = m ? RENAMED[m[1]!] : undefined;
    if (renamed) {
      throw new ConfigError(
        `--${m![1]} is now --${renamed} (Node.js itself reads --${m![1]} from every command line); ` +
          (options[renamed]
            ? `use 'qexport ${command} --${renamed} FILE'`
            : `qexport ${command} takes no --${renamed}; export, token, state and query do`),
      );
    }
  }
  // `--seed -1`: parseArgs would read -1 as an option; a string flag followed by a negative number takes it as
  // its value, so the flag's own check can say what is wrong with it.
  // A word starting with '-' that holds whitespace is text, not a flag (SQL opening with a '-- comment'): it
  // stands in as a placeholder while parseArgs runs, and is put back after.
  const texts: string[] = [];
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = /^--([\w-]+)$/.exec(a)?.[1];
    const next = argv[i + 1];
    if (name && options[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      args.push(`${a}=${next}`);
      i++;
    } else if (/^-/.test(a) && /\s/.test(a) && !/^--?[\w-]+=/.test(a)) {
      args.push(`${TEXT}${texts.push(a) - 1}`);
    } else args.push(a);
  }
  const restore = (v: string) =>
    v.startsWith(TEXT) && /^\d+$/.test(v.slice(TEXT.length)) ? texts[Number(v.slice(TEXT.length))]! : v;
  try {
    const parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { ...parsed, positionals: parsed.positionals.map(restore) };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const ambiguous = /Option '(-\w, )?(--[\w-]+)[^']*' argument is ambiguous/.exec(msg);
    if (ambiguous) {
      // A value starting with '-' that is not a negative number (e.g. `--out -x`): parseArgs reads it as an
      // option. Say how to pass it.
      const flag = ambiguous[2]!;
      throw new ConfigError(
        `${flag} needs a value; to pass one starting with '-', write ${flag}=VALUE (see 'qexport ${command} --help')`,
      );
    }
    const first = msg.split('\n')[0]!.replace(/\. To specify.*$/, '');
    throw new ConfigError(`${first} (see 'qexport ${command} --help')`);
  }
}

/** Parses a whole-number flag, naming the flag in the error. */
export function intFlag(
  name: string,
  value: string | undefined,
  fallback: number,
  min = 0,
  max = 1e9,
): number {
  if (value === undefined) return fallback;
  if (!/^-?\d+$/.test(value.trim()))
    throw new ConfigError(`--${name} must be a whole number, got '${value}'`);
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
