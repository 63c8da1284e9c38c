// The README's quick start as a new user runs it (through npm), and every relative link of the README and
// docs/ pointing at a file and heading that exist.
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../support/cli';
import { MODULES } from '../../shared/config';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qexport-readme-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('the README quick start', () => {
  it('is npm ci, npm run demo, npm test, and package.json has those scripts', () => {
    const block = /```bash\n([\s\S]*?)```/.exec(README)![1]!;
    expect(
      block
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/\s+#.*$/, '')),
    ).toEqual(['npm ci', 'npm run demo', 'npm test']);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.test).toBe('vitest run');
    // `node --`: Node stops scanning for --env-file there, so `npm run demo -- --env-file X` reaches qexport.
    expect(pkg.scripts.demo).toBe('node -- bin/qexport.mjs demo');
  });

  it('`npm run demo` exports every module and says how to look at the data', async () => {
    const out = join(tmp, 'exports');
    const child = spawn('npm', ['run', '-s', 'demo', '--', '--out', out, '--scale', '0.01'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmp,
        npm_config_update_notifier: 'false',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((r) => child.on('close', r));
    expect(code, stderr).toBe(0);
    expect(stdout.match(/^ok {3}\S+: (\d+) records written, simulator holds \1$/gm)).toHaveLength(
      MODULES.length,
    );
    expect(stdout).toMatch(/^look at the data:\n {2}npx qexport query \/\S+ 'SELECT .*'\n/m);
    expect(stdout).toMatch(/^ {2}zcat \/\S+\.ndjson\.gz \| head -n 2$/m);
  }, 120_000);
});

/** GitHub's anchor for a heading: lowercase, punctuation dropped, spaces as '-'. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

describe('relative links in the README and docs/', () => {
  const files = [
    join(ROOT, 'README.md'),
    ...readdirSync(join(ROOT, 'docs')).map((f) => join(ROOT, 'docs', f)),
  ].filter((f) => f.endsWith('.md'));
  const links = files.flatMap((file) =>
    [
      ...readFileSync(file, 'utf8')
        .replace(/```[\s\S]*?```/g, '')
        .matchAll(/\]\(([^)\s]+)\)/g),
    ]
      .map((m) => m[1]!)
      .filter((href) => !/^[a-z]+:/.test(href))
      .map((href) => [file.slice(ROOT.length + 1), href] as const),
  );

  it('there are some', () => expect(links.length).toBeGreaterThan(30));

  it.each(links)('%s → %s', (from, href) => {
    const [path, anchor] = href.split('#') as [string, string | undefined];
    const target = path ? resolve(dirname(join(ROOT, from)), path) : join(ROOT, from);
    expect(() => readFileSync(target), `${from}: ${href}`).not.toThrow();
    if (anchor && target.endsWith('.md')) expect(anchors(target), `${from}: ${href}`).toContain(anchor);
  });
});
