import { readFileSync } from 'node:fs';
import { ENV, type Env } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

/**
 * The environment the CLI configures itself from: a dotenv file (explicit `--dotenv FILE`, or `./.env` when it
 * exists) under the real environment, which wins.
 *
 * The flag is not called --env-file: Node.js itself scans the whole command line, script arguments included,
 * for `--env-file` and exits ("node: FILE: not found", status 9) before any of our code runs when FILE is
 * missing (nodejs/node#54232; Node only stops at a `--` argument). The launcher's shebang passes `--` to Node
 * for that reason, and `--env-file` is refused with a message naming `--dotenv`.
 *
 * Nothing is skipped silently: a line that is not `KEY=value`, a quote never closed, and a QUALYS_* or QEXPORT_*
 * name that is not a setting (in the file or in the real environment) each print a warning with the file, the
 * line and the nearest known name. Values are never printed (they may be secrets).
 */
export function cliEnv(
  dotenvFile: string | undefined,
  processEnv: Env = process.env,
  warn: (line: string) => void = (line) => process.stderr.write(`qexport: warning: ${line}\n`),
): Env {
  const path = dotenvFile ?? '.env';
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (dotenvFile !== undefined || code !== 'ENOENT') {
      throw new ConfigError(
        `--dotenv: cannot read '${path}' (${code ?? 'error'})${dotenvFile === undefined ? ' (read by default when present)' : ''}`,
      );
    }
  }
  const parsed = text === undefined ? undefined : parseDotenv(text, path);
  for (const w of parsed?.warnings ?? []) warn(w);
  for (const w of unknownNameWarnings(Object.keys(processEnv), () => 'environment')) warn(w);
  return { ...parsed?.values, ...processEnv };
}

export interface Dotenv {
  values: Record<string, string>;
  /** One line each, `<file>:<line>: …`, never quoting a value. */
  warnings: string[];
  /** The line each variable was (last) set on. */
  lines: Record<string, number>;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Parses dotenv text as Node's own parser (util.parseEnv) reads it — `KEY=value`, optional `export `, values in
 * "double" (with \n escapes), 'single' or `backtick` quotes possibly over several lines, `#` comments — and
 * reports every line it has to skip or read in a way the writer may not have meant, plus unknown setting names.
 */
export function parseDotenv(text: string, file: string): Dotenv {
  const values: Record<string, string> = {};
  const lines: Record<string, number> = {};
  const warnings: string[] = [];
  const src = text.replace(/\r\n?/g, '\n');
  let pos = 0;
  let line = 1;
  while (pos < src.length) {
    const at = line;
    const eol = src.indexOf('\n', pos) < 0 ? src.length : src.indexOf('\n', pos);
    const raw = src.slice(pos, eol);
    const next = () => {
      pos = eol + 1;
      line++;
    };
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      next();
      continue;
    }
    const eq = raw.indexOf('=');
    if (eq < 0) {
      warnings.push(`${file}:${at}: not KEY=value (no '='); line ignored`);
      next();
      continue;
    }
    const key = raw
      .slice(0, eq)
      .trim()
      .replace(/^export\s+/, '');
    if (!KEY.test(key)) {
      warnings.push(
        `${file}:${at}: '${key.slice(0, 40)}' is not a variable name (letters, digits and '_', not starting with a digit); line ignored`,
      );
      next();
      continue;
    }
    const valueStart = pos + eq + 1 + (raw.slice(eq + 1).length - raw.slice(eq + 1).trimStart().length);
    const quote = src[valueStart];
    let value: string;
    if (quote === '"' || quote === "'" || quote === '`') {
      const close = src.indexOf(quote, valueStart + 1);
      // A value may span lines (Node reads it so), but one whose span holds what looks like the next assignment
      // is a quote left open by mistake: reading on would swallow those variables.
      const swallowed =
        close < 0
          ? undefined
          : /\n\s*(?:export\s+)?([A-Z][A-Z0-9_]*)\s*=/.exec(src.slice(valueStart, close))?.[1];
      if (close < 0 || swallowed) {
        warnings.push(
          `${file}:${at}: ${key}'s value opens a ${quote} quote that is ` +
            (swallowed ? `not closed on its line (it would swallow ${swallowed} below)` : 'never closed') +
            '; line ignored',
        );
        next();
        continue;
      }
      value = src.slice(valueStart + 1, close);
      if (quote === '"') value = value.replace(/\\n/g, '\n');
      // The value may span lines: continue after the line holding the closing quote.
      const spanned = src.slice(pos, close).split('\n').length - 1;
      const closeEol = src.indexOf('\n', close) < 0 ? src.length : src.indexOf('\n', close);
      const after = src.slice(close + 1, closeEol).trim();
      if (after !== '' && !after.startsWith('#')) {
        warnings.push(`${file}:${at + spanned}: text after ${key}'s closing ${quote} quote is ignored`);
      }
      pos = closeEol + 1;
      line += spanned + 1;
    } else {
      const rest = raw.slice(eq + 1);
      const hash = rest.indexOf('#');
      value = (hash < 0 ? rest : rest.slice(0, hash)).trim();
      if (hash > 0 && !/\s/.test(rest[hash - 1]!)) {
        warnings.push(
          `${file}:${at}: ${key}'s value stops at '#' (the rest is read as a comment); quote the value if '#' belongs to it`,
        );
      }
      next();
    }
    if (lines[key] !== undefined) {
      warnings.push(`${file}:${at}: ${key} is set again (first on line ${lines[key]}); the later value wins`);
    }
    values[key] = value;
    lines[key] = at;
  }
  warnings.push(...unknownNameWarnings(Object.keys(values), (name) => `${file}:${lines[name]}`));
  return { values, warnings, lines };
}

/** Every variable name qexport reads (the single source: ENV in shared/config.ts). */
const KNOWN: readonly string[] = Object.values(ENV);
const OURS = /^(QUALYS|QEXPORT)_/;

/**
 * A warning for each name that looks like one of ours (QUALYS_*, QEXPORT_*) but is not a setting, naming the
 * nearest known name when one is close. `where` says where the name was found (`file:line`, `environment`).
 */
export function unknownNameWarnings(names: Iterable<string>, where: (name: string) => string): string[] {
  const out: string[] = [];
  for (const name of names) {
    if (!OURS.test(name) || KNOWN.includes(name)) continue;
    const near = nearestName(name, KNOWN);
    out.push(
      `${where(name)}: ${name} is not a qexport setting` +
        (near ? `; did you mean ${near}?` : ' (see docs/configuration.md)'),
    );
  }
  return out;
}

/** The known name closest to `name` (edit distance, a transposition counting one), if it is close enough. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  // Close enough to be a typo: a few edits, and fewer than a third of the name.
  return bestDistance <= Math.min(3, Math.floor(name.length / 3)) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent transpositions. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
