#!/usr/bin/env -S node --
// The `qexport` command. Runs the precompiled CLI (dist/cli, built by bin/build-cli.mjs at `npm ci`), which
// starts in a fraction of the time TypeScript loading took. Before that it checks the build against the stamps
// of every source it was built from; if any changed (or there is no build), it rebuilds first (esbuild is
// always installed: tsx, a runtime dependency, depends on it), so edited sources never run from an old build.
// The shebang passes `--` to Node: Node scans its whole command line, script arguments included, for
// `--env-file` and exits before this file runs when the named file is missing (nodejs/node#54232); it stops
// scanning at `--`, so `qexport ... --env-file X` reaches our parser, which names the new flag (--dotenv).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildCli, CURRENT, DIST, stamp } from './build-cli.mjs';

/** The up-to-date build's main.mjs, or undefined when there is none or a source changed since. */
function currentBuild() {
  let current;
  try {
    current = JSON.parse(readFileSync(CURRENT, 'utf8'));
  } catch {
    return undefined;
  }
  for (const [rel, s] of Object.entries(current.inputs)) {
    const now = stamp(rel); // null: deleted since the build
    if (now?.[0] !== s?.[0] || now?.[1] !== s?.[1]) return undefined;
  }
  return join(DIST, current.id, 'main.mjs');
}

async function loadCli() {
  let main = currentBuild();
  if (!main) {
    try {
      main = await buildCli();
    } catch (err) {
      process.stderr.write(`qexport: the CLI could not be built from its sources:\n${err.message}\n`);
      process.exit(1);
    }
  }
  return import(pathToFileURL(main).href);
}

const { main } = await loadCli();
process.exitCode = await main(process.argv.slice(2));
