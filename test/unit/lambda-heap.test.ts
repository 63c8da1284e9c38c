import { execFileSync, spawnSync } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  EXPORTER_MEMORY_MB,
  EXPORTER_SEMI_SPACE_MB,
  HEAP_WRAPPER,
  lambdaNodeOptions,
} from '../../infra/lambda-runtime';

const WRAPPER = join(import.meta.dirname, '..', '..', 'functions', HEAP_WRAPPER);
// Stands in for the runtime's entry point: reports the heap node was given and its arguments.
const ENTRY = join(tmpdir(), `qexport-heap-entry-${process.pid}.cjs`);
writeFileSync(
  ENTRY,
  "const v8 = require('node:v8');\n" +
    'console.log(JSON.stringify({ limit: v8.getHeapStatistics().heap_size_limit, execArgv: process.execArgv, ' +
    'gc: typeof globalThis.gc, extra: process.argv.slice(2) }));\n',
);

interface Seen {
  limit: number;
  execArgv: string[];
  gc: string;
  extra: string[];
}

/**
 * Runs the wrapper as Lambda does: the interpreter path and the runtime's own arguments. Through its shebang
 * (/bin/sh: dash on Debian) and through bash (/bin/sh on Amazon Linux), so it holds under either.
 */
function viaWrapper(args: string[], semi?: string) {
  const env = { ...process.env, QEXPORT_SEMI_SPACE_MB: semi };
  if (semi === undefined) delete env.QEXPORT_SEMI_SPACE_MB;
  const viaShebang = run(WRAPPER, [process.execPath, ...args], env);
  const viaBash = run('bash', [WRAPPER, process.execPath, ...args], env);
  expect(viaBash).toEqual(viaShebang);
  return viaShebang;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { seen: JSON.parse(r.stdout) as Seen, stderr: r.stderr };
}

/** The heap limit node reports when started directly with `options`. */
const limitWith = (options: string[]) =>
  (JSON.parse(execFileSync(process.execPath, [...options, ENTRY], { encoding: 'utf8' })) as Seen).limit;

const runtime = lambdaNodeOptions(EXPORTER_MEMORY_MB);

describe('functions/lambda-heap.sh (AWS_LAMBDA_EXEC_WRAPPER)', () => {
  it('the runtime starts a 1,024 MB function with 51 MB semi-spaces and 922 MB of old space', () => {
    expect(runtime).toEqual([
      '--expose-gc',
      '--max-http-header-size',
      '81920',
      '--max-semi-space-size=51',
      '--max-old-space-size=922',
    ]);
  });

  it("replaces the runtime's semi-space size and keeps every other argument in place", () => {
    const { seen } = viaWrapper([...runtime, ENTRY], String(EXPORTER_SEMI_SPACE_MB));
    expect(seen.execArgv).toEqual([
      '--expose-gc',
      '--max-http-header-size',
      '81920',
      `--max-semi-space-size=${EXPORTER_SEMI_SPACE_MB}`,
      '--max-old-space-size=922',
    ]);
    expect(seen.gc).toBe('function');
    // Node was really configured with it: the same heap as started directly with those two options, and
    // smaller than the runtime's own.
    const ours = limitWith([`--max-semi-space-size=${EXPORTER_SEMI_SPACE_MB}`, '--max-old-space-size=922']);
    expect(seen.limit).toBe(ours);
    expect(ours).toBeLessThan(limitWith(runtime));
  });

  it('adds the size before the entry point when the runtime gives none, and keeps arguments after it', () => {
    const { seen } = viaWrapper(['--expose-gc', ENTRY], '8');
    expect(seen.execArgv).toEqual(['--expose-gc', '--max-semi-space-size=8']);
    expect(viaWrapper(['--max-semi-space-size', '51', ENTRY, 'x y', '*', ''], '8').seen).toMatchObject({
      execArgv: ['--max-semi-space-size=8'],
      extra: ['x y', '*', ''],
    });
  });

  it('without the variable, or with a bad value, runs the runtime command unchanged', () => {
    expect(viaWrapper([...runtime, ENTRY]).seen.execArgv).toEqual(runtime);
    for (const bad of ['abc', '0', '16MB', '257', '-1', '1e3']) {
      const { seen, stderr } = viaWrapper([...runtime, ENTRY], bad);
      expect(seen.execArgv).toEqual(runtime);
      expect(stderr).toContain(`QEXPORT_SEMI_SPACE_MB='${bad}' is not a whole number of MB from 1 to 256`);
    }
  });

  it('is executable, as Lambda requires of a wrapper script', () => {
    expect(statSync(WRAPPER).mode & 0o111).toBe(0o111);
  });
});
