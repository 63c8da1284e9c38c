/**
 * What a run id may be: the one check, called where a run id enters (the CLI's --run-id, the Lambda export
 * event) and by the run engine before it names anything after one (last line of defence).
 *
 * A run id becomes part of S3 keys (`…/run=<runId>/part-00000.ndjson.gz`, `manifests/…/<runId>.json`), a Hive
 * partition value (`run=<runId>`), a file name in a local export, and a value readers compare with Athena's
 * `$path`. So: letters, digits, '.', '_' and '-' only (nothing to escape in a key, a URL or a partition value);
 * it starts with a letter or digit (a leading '.' or '_' hides the catalogue copy of the manifest from Athena and
 * Hadoop readers, which skip such files, and a leading '-' reads as a flag); no '..' (a path segment in a
 * local directory); not ending in '.' (Windows drops it); at most 80 characters. Generated ids
 * (`20261123T101112Z-a1b2c3`) are 23.
 */
import { ConfigError } from '../errors';

export const RUN_ID_MAX = 80;

/** The problem with `id` as a run id, as a phrase to follow its name, or undefined when it is fine. */
export function runIdProblem(id: unknown): string | undefined {
  if (typeof id !== 'string') return `must be a string, got ${id === null ? 'null' : typeof id}`;
  if (id === '') return 'is empty';
  if (id.length > RUN_ID_MAX) return `is ${id.length} characters long; at most ${RUN_ID_MAX} are allowed`;
  const bad = /[^A-Za-z0-9._-]/.exec(id);
  if (bad) {
    const c = bad[0];
    const what =
      c === '/' || c === '\\'
        ? `a path separator '${c}'`
        : /\s/.test(c)
          ? 'whitespace'
          : c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f
            ? 'a control character'
            : `'${c}'`;
    return `contains ${what}; use only letters, digits, '.', '_' and '-'`;
  }
  if (!/^[A-Za-z0-9]/.test(id)) {
    return `starts with '${id[0]}'; start with a letter or digit (readers skip files starting with '.' or '_')`;
  }
  if (id.includes('..')) return "contains '..'";
  if (id.endsWith('.')) return "ends with '.'";
  return undefined;
}

/** Throws a ConfigError naming `name` (the flag or field) when `id` is not a valid run id. */
export function checkRunId(id: unknown, name: string): string {
  const problem = runIdProblem(id);
  if (problem) {
    const shown = typeof id === 'string' ? ` '${JSON.stringify(id).slice(1, -1).slice(0, 100)}'` : '';
    throw new ConfigError(`${name}${shown} ${problem} (e.g. nightly-2026-11-23)`);
  }
  return id as string;
}
