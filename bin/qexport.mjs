#!/usr/bin/env -S node --
// The `qexport` command. TypeScript sources run through tsx's loader (no build step).
// The shebang passes `--` to Node: Node scans its whole command line, script arguments included, for
// `--env-file` and exits before this file runs when the named file is missing (nodejs/node#54232); it stops
// scanning at `--`, so `qexport ... --env-file X` reaches our parser, which names the new flag (--dotenv).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('./cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
