import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qexport, ROOT } from '../support/cli';

// The launcher (bin/qexport.mjs) and the build (bin/build-cli.mjs), copied into a scratch project whose CLI
// prints a value from a second module: editing that module must change what the command prints.
let dir: string;

const launch = () => qexport(['x'], { launcher: join(dir, 'bin', 'qexport.mjs'), cwd: dir });

const setValue = (v: string) => writeFile(join(dir, 'bin', 'cli', 'value.ts'), v);
const buildId = async () =>
  (JSON.parse(await readFile(join(dir, 'dist', 'cli', 'current.json'), 'utf8')) as { id: string }).id;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'qexport-launcher-'));
  await mkdir(join(dir, 'bin', 'cli'), { recursive: true });
  for (const f of ['bin/qexport.mjs', 'bin/build-cli.mjs', 'tsconfig.json'])
    await copyFile(join(ROOT, f), join(dir, f));
  await writeFile(join(dir, 'package.json'), '{"type":"module","private":true}\n');
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  await writeFile(
    join(dir, 'bin', 'cli', 'main.ts'),
    "import { value } from './value';\nexport async function main(argv: string[]): Promise<number> {\n" +
      "  process.stdout.write(`${value} ${argv.join(',')}\\n`);\n  return 0;\n}\n",
  );
  await setValue("export const value: string = 'one';\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('qexport launcher', () => {
  it('builds on first use, reuses the build while no source changes, rebuilds when one does', async () => {
    const first = await launch();
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe('one x\n');
    // (A source written within 50 ms of a build is distrusted and rebuilt once more: let that settle.)
    expect((await launch()).stdout).toBe('one x\n');
    const id = await buildId();
    expect((await launch()).stdout).toBe('one x\n');
    expect(await buildId()).toBe(id); // no rebuild

    await setValue("export const value: string = 'two';\n");
    expect((await launch()).stdout).toBe('two x\n');
    expect(await buildId()).not.toBe(id);
  });

  it('refuses to run when the sources do not build, instead of running the previous build', async () => {
    await setValue("export const value: string = 'three'\nthis is not TypeScript\n");
    const run = await launch();
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/could not be built/);
    await setValue("export const value: string = 'four';\n");
    expect((await launch()).stdout).toBe('four x\n');
  });

  it('several commands starting at once on a stale build all run the current sources', async () => {
    await rm(join(dir, 'dist'), { recursive: true, force: true });
    await setValue("export const value: string = 'five';\n");
    const runs = await Promise.all([launch(), launch(), launch(), launch()]);
    for (const r of runs) expect(r.stdout, r.stderr).toBe('five x\n');
    expect((await launch()).stdout).toBe('five x\n');
  });

  it('two builds of different sources never share an output, even when the sources carry the same stamps', async () => {
    // Stamps (mtime, size) can repeat: a file changed during a build is stamped [-1, -1] each time, and a
    // checkout can restore an mtime. The build must still be the one of the sources it read.
    const { buildCli } = (await import(pathToFileURL(join(dir, 'bin', 'build-cli.mjs')).href)) as {
      buildCli: () => Promise<string>;
    };
    const at = new Date('2026-01-01T00:00:00Z');
    const file = join(dir, 'bin', 'cli', 'value.ts');
    await setValue("export const value: string = 'ant';\n");
    await utimes(file, at, at);
    const first = await buildCli();
    await setValue("export const value: string = 'bee';\n"); // same size
    await utimes(file, at, at);
    const second = await buildCli();
    expect(second).not.toBe(first);
    expect(await readFile(second, 'utf8')).toContain('"bee"');
    expect(await readFile(first, 'utf8')).toContain('"ant"');
  });
});
