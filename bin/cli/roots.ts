import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { MODULES } from '../../shared/config';
import { ConfigError } from '../../shared/errors';

/**
 * Finding the export root (the `<prefix>` level: `<root>/_state/`, `<root>/manifests/`, `<root>/<module>/…`)
 * inside a local folder, so that read-only commands work on any output folder: `--out exports` after real exports
 * (`exports/qualys/…`), a demo's own folder (`exports/demo-<time>-<id>/…`, the demo's prefix), or a folder that
 * holds exactly one of those.
 */

/** Entries that only an export root holds. */
const ROOT_MARKERS = new Set<string>(['_state', 'manifests', ...MODULES]);

function dirNames(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** Does `dir` hold an export (its state folder, its catalogue manifests or a module's data)? */
export function isExportRoot(dir: string): boolean {
  return dirNames(dir).some((n) => ROOT_MARKERS.has(n));
}

export interface FoundRoot {
  /** The root's key prefix under `base` ('' when `base` is the root itself). */
  prefix: string;
  /** Absolute path of the root. */
  dir: string;
  /** Whether a root was found (otherwise `prefix` is the configured one, where nothing is yet). */
  found: boolean;
}

const mtime = (p: string) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
};

/**
 * The export root inside `base`, in this order: `base/<prefix>` (the configured QEXPORT_PREFIX, default
 * `qualys`); `base` itself; the one folder directly under `base` that is a root (a demo's folder). Several such
 * folders and no configured one: a ConfigError listing them (newest last) and naming `flag` to pick one. None:
 * `base/<prefix>` with `found: false`.
 */
export function locateExportRoot(base: string, prefix: string, flag: string): FoundRoot {
  const configured = prefix ? join(base, prefix) : base;
  if (isExportRoot(configured)) return { prefix, dir: configured, found: true };
  if (isExportRoot(base)) return { prefix: '', dir: base, found: true };
  const children = dirNames(base)
    .map((n) => join(base, n))
    .filter(isExportRoot)
    .sort((a, b) => mtime(a) - mtime(b) || a.localeCompare(b));
  if (children.length === 1) {
    const dir = children[0]!;
    return { prefix: relative(base, dir), dir, found: true };
  }
  if (children.length > 1) {
    const shown = children.slice(-5);
    throw new ConfigError(
      `${base} holds ${children.length} exports (${children.length > shown.length ? '…, ' : ''}` +
        `${shown.map((c) => relative(base, c)).join(', ')}): name one, e.g. ${flag} ${children.at(-1)}`,
    );
  }
  return { prefix, dir: configured, found: false };
}
