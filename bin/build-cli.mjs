#!/usr/bin/env node
// Precompiles the `qexport` command line (bin/cli/main.ts and everything it imports) into one ESM file with
// esbuild, as the Lambda bundles are, so the command starts without loading TypeScript at run time.
//
//   node bin/build-cli.mjs      (run by `npm ci` / `npm install` through the `prepare` script)
//
// Output: dist/cli/<build id>/main.mjs, and dist/cli/current.json naming it together with a stamp (mtime and
// size) of every project file the bundle was built from. bin/qexport.mjs checks those stamps at each start
// and rebuilds when any differs, so an edited source is never run from an old build.
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(ROOT, 'dist', 'cli');
export const CURRENT = join(DIST, 'current.json');
const ENTRY = 'bin/cli/main.ts';
/** Besides the bundle's own inputs, files that change what the build produces. */
const CONFIG_INPUTS = ['bin/build-cli.mjs', 'tsconfig.json', 'package.json'];
/** npm rewrites it on every install or ci: a dependency change invalidates the build. */
const DEPENDENCIES_STAMP = 'node_modules/.package-lock.json';
/** Old builds are removed once no running command can still be reading them. */
const KEEP_OLD_MS = 3600_000;

/** [mtimeMs, size] of a project file, or null when it does not exist. */
export function stamp(rel) {
  try {
    const s = statSync(join(ROOT, rel));
    return [s.mtimeMs, s.size];
  } catch {
    return null;
  }
}

/**
 * Builds the CLI; resolves with the path of the new main.mjs. Safe to run from several processes at once:
 * each builds into its own temporary directory and moves it into place with one rename.
 */
export async function buildCli() {
  const { build } = await import('esbuild');
  mkdirSync(DIST, { recursive: true });
  const startedAt = Date.now();
  const tmp = mkdtempSync(join(DIST, '.tmp-'));
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: { main: ENTRY },
      outdir: tmp,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      mainFields: ['module', 'main'],
      // DuckDB is native (and optional for an installed qexport): loaded from node_modules, and only by `query`.
      external: ['@duckdb/*'],
      // Not minified: stack traces stay readable, and parsing the bundle is not what start-up costs.
      sourcemap: false,
      metafile: true,
      logLevel: 'silent',
      banner: {
        js: "import { createRequire as __qexportRequire } from 'node:module'; const require = __qexportRequire(import.meta.url);",
      },
    });
    const inputs = {};
    for (const rel of [
      ...Object.keys(result.metafile.inputs).filter((p) => !p.startsWith('node_modules/')),
      ...CONFIG_INPUTS,
    ]) {
      const s = stamp(rel);
      // A file changed while the build was reading it may be in the bundle in its old form: stamp it as
      // never matching, so the next start rebuilds.
      inputs[rel] = s && s[0] >= startedAt - 50 ? [-1, -1] : s;
    }
    inputs[DEPENDENCIES_STAMP] = stamp(DEPENDENCIES_STAMP);
    // Named by what was built, not by the stamps: two builds share a directory only when their output is the
    // same (stamps can repeat: a file changed during a build is stamped [-1, -1] every time).
    const id = createHash('sha256')
      .update(readFileSync(join(tmp, 'main.mjs')))
      .digest('hex')
      .slice(0, 16);
    const dir = join(DIST, id);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process built the same sources first: use its build.
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
      rmSync(tmp, { recursive: true, force: true });
    }
    const next = join(DIST, `.current-${process.pid}-${Date.now()}.json`);
    writeFileSync(next, `${JSON.stringify({ id, builtAt: new Date().toISOString(), inputs })}\n`);
    renameSync(next, CURRENT);
    removeOldBuilds(id);
    return join(dir, 'main.mjs');
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function removeOldBuilds(keep) {
  const now = Date.now();
  for (const name of readdirSync(DIST)) {
    if (name === keep || name === 'current.json') continue;
    const p = join(DIST, name);
    try {
      if (now - statSync(p).mtimeMs > KEEP_OLD_MS) rmSync(p, { recursive: true, force: true });
    } catch {
      // Removed by another process meanwhile.
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const main = await buildCli();
    console.log(`qexport CLI built: ${relative(ROOT, main)}`);
  } catch (err) {
    // `prepare` must not break an install: the launcher builds on first use and reports what fails then.
    console.warn(
      `qexport CLI not built (${err.message.split('\n')[0]}); bin/qexport.mjs will retry at start`,
    );
  }
}
