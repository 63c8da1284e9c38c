// `qexport query` over a demo's output, as a user runs it (child processes): the command the demo prints works,
// every view returns exactly what its manifests count, every DuckDB example in docs/querying.md runs, and
// every refusal names what to fix.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULES, type ModuleName } from '../../shared/config';
import type { Manifest } from '../../shared/export/types';
import { allViews } from '../../shared/schema/views';
import { lines, qexport, ROOT, walk } from '../support/cli';

let tmp: string;
let demoOut: string;
let demoDir: string;
let demoStdout: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'qexport-cli-query-'));
  demoOut = join(tmp, 'exports');
  const demo = await qexport(['demo', '--out', demoOut, '--scale', '0.02']);
  expect(demo.code, demo.stderr).toBe(0);
  demoStdout = demo.stdout;
  demoDir = /^output: (\S+)$/m.exec(demo.stdout)![1]!;
}, 120_000);
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Rows of `qexport query <dir> --format json <sql>` (exit 0 required). */
async function rows<T = Record<string, unknown>>(
  dir: string,
  sql: string,
  args: string[] = [],
): Promise<T[]> {
  const r = await qexport(['query', dir, '--format', 'json', ...args, sql]);
  expect(r.code, `${sql}\n${r.stderr}`).toBe(0);
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as T[];
}

/** The run manifests on disk (not through DuckDB): what every view must agree with. */
async function manifestsOnDisk(dir: string): Promise<Manifest[]> {
  const files = (await walk(dir)).filter((f) => f.endsWith('/_manifest.json'));
  return Promise.all(files.map(async (f) => JSON.parse(await readFile(f, 'utf8')) as Manifest));
}

/** Splits a printed shell line into words (plain words and '…' quoted ones, as the demo prints them). */
function shellWords(line: string): string[] {
  return [...line.matchAll(/'((?:[^']|'\\'')*)'|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replace(/'\\''/g, "'") : m[2]!,
  );
}

describe('the demo says how to look at its data', () => {
  it('prints a query command and a zcat line with real paths; both work', async () => {
    const [, queryLine] = /^ {2}(\S.* query \S+ '.*')$/m.exec(demoStdout) ?? [];
    expect(queryLine, demoStdout).toBeDefined();
    const words = shellWords(queryLine!);
    const at = words.indexOf('query');
    // As printed for `node bin/qexport.mjs demo`: the same launcher, then the real folder and the SQL.
    expect(words.slice(0, at)).toEqual(['node', 'bin/qexport.mjs']);
    expect(words[at + 1]).toBe(demoDir);
    const run = await qexport(words.slice(at));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^type +events$/m);
    expect(run.stdout).toMatch(/^\(\d+ rows?\)$/m);

    const [, part] = /^ {2}zcat (\S+) \| head -n 2$/m.exec(demoStdout) ?? [];
    expect(part, demoStdout).toBeDefined();
    const first = gunzipSync(readFileSync(part!)).toString('utf8').split('\n')[0]!;
    expect(JSON.parse(first)).toHaveProperty('qexport_run');
  });

  it('prints `npx qexport` when started by npm', async () => {
    const run = await qexport(['demo', '--out', join(tmp, 'npm'), '--scale', '0.01'], {
      env: { npm_lifecycle_event: 'demo' },
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ {2}npx qexport query \/\S+ 'SELECT /m);
  });
});

describe('every view returns exactly the records its manifests count', () => {
  it.each(allViews().map((v) => [v.name, v] as const))('%s', async (_name, view) => {
    const manifests = (await manifestsOnDisk(demoDir)).filter((m) => m.module === view.module);
    expect(manifests).toHaveLength(1); // one complete run per module in a demo
    const expected =
      view.select === 'latest'
        ? manifests.filter((m) => m.kind === 'snapshot').at(-1)!.totals.records
        : manifests.reduce((n, m) => n + m.totals.records, 0);
    expect(expected).toBeGreaterThan(0);
    const [row] = await rows<{ n: number; runs: number }>(
      demoDir,
      `SELECT count(*) AS n, count(DISTINCT qexport_run) AS runs FROM ${view.name}`,
    );
    expect(row).toEqual({ n: expected, runs: 1 });
  });

  it('the manifests table agrees with the manifest files', async () => {
    const onDisk = await manifestsOnDisk(demoDir);
    const fromSql = await rows<{ module: string; runId: string; records: number }>(
      demoDir,
      'SELECT module, "runId", totals.records AS records FROM manifests ORDER BY module',
    );
    expect(fromSql).toEqual(
      onDisk
        .map((m) => ({ module: m.module, runId: m.runId, records: m.totals.records }))
        .sort((a, b) => a.module.localeCompare(b.module)),
    );
  });
});

/** The DuckDB examples of docs/querying.md: the SQL blocks whose `<!-- example: … -->` marker names duckdb. */
function duckdbExamples(): string[] {
  const doc = readFileSync(join(ROOT, 'docs', 'querying.md'), 'utf8');
  return [...doc.matchAll(/<!-- example: ([a-z ]+) -->\n(?:<!--[^\n]*-->\n)*```sql\n([\s\S]*?)```/g)]
    .filter((m) => m[1]!.split(' ').includes('duckdb'))
    .map((m) => m[2]!);
}

describe('docs/querying.md', () => {
  const examples = duckdbExamples();

  it('gives an Athena and a DuckDB form of each example', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'querying.md'), 'utf8');
    const markers = [...doc.matchAll(/<!-- example: ([a-z ]+) -->/g)].map((m) => m[1]!.split(' '));
    expect(examples.length).toBeGreaterThanOrEqual(8);
    const athena = markers.filter((m) => m.includes('athena')).length;
    expect(athena).toBe(markers.filter((m) => m.includes('duckdb')).length);
    // Every marker is followed by its SQL block (none is left pointing at prose).
    expect(markers).toHaveLength(
      [...doc.matchAll(/<!-- example: [a-z ]+ -->\n(?:<!--[^\n]*-->\n)*```sql\n/g)].length,
    );
  });

  it.each(examples.map((sql) => [sql.split('\n').find((l) => !l.startsWith('--'))!, sql]))(
    'runs, with rows, against a demo: %s',
    async (_first, sql) => {
      expect((await rows(demoDir, sql)).length).toBeGreaterThan(0);
    },
  );
});

describe('qexport query', () => {
  it('finds the export in the --out folder holding one demo', async () => {
    const [row] = await rows<{ n: number }>(demoOut, 'SELECT count(*) AS n FROM manifests');
    expect(row!.n).toBe(MODULES.length);
  });

  it('runs several statements, in order, each printed', async () => {
    const r = await qexport(['query', demoDir, 'SELECT 1 AS one; SELECT 2 AS two']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^one\n---\n +1\n\(1 row\)\n\ntwo\n---\n +2\n\(1 row\)\n$/);
  });

  it('csv and ndjson carry every row', async () => {
    const csv = await qexport([
      'query',
      demoDir,
      '--format',
      'csv',
      'SELECT "scanId" FROM pci_scans_complete',
    ]);
    expect(csv.code, csv.stderr).toBe(0);
    const [header, ...body] = csv.stdout.trimEnd().split('\n');
    expect(header).toBe('scanId');
    const nd = await qexport([
      'query',
      demoDir,
      '--format',
      'ndjson',
      'SELECT "scanId" FROM pci_scans_complete',
    ]);
    expect(
      nd.stdout
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { scanId: number }).scanId),
    ).toEqual(body.map(Number));
  });

  it('the table format shows --max-rows rows and counts the rest', async () => {
    const r = await qexport(['query', demoDir, '--max-rows', '3', 'SELECT id FROM edr_events_complete']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^\((\d+) rows, first 3 shown: add LIMIT, raise --max-rows or use --format csv\)$/m,
    );
    expect(lines(r.stdout)).toHaveLength(2 + 3 + 1);
  });

  describe('statements from stdin (not a terminal)', () => {
    it('runs each statement, across lines, with .tables and .schema', async () => {
      const r = await qexport(['query', demoDir], {
        input:
          '.tables\n.schema manifests\nSELECT count(*) AS n\n  FROM manifests;\nSELECT 7 AS seven -- no ;\n',
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^edr_events_complete +view$/m);
      expect(r.stdout).toMatch(/^manifests +view$/m);
      expect(r.stdout).toMatch(/^runId +VARCHAR/m);
      expect(r.stdout).toMatch(new RegExp(`^n\\n-\\n${MODULES.length}\\n`, 'm'));
      expect(r.stdout).toMatch(/^seven\n-----\n +7\n/m); // the last statement runs at the end of input
      expect(r.stdout).not.toMatch(/qexport>/); // no prompt without a terminal
    });

    it('a failing statement is reported, the rest still run, and the exit code says so (3)', async () => {
      const r = await qexport(['query', demoDir], {
        input: 'SELECT nope FROM manifests;\nSELECT 2 AS two;\n',
      });
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/^Error: Binder Error: .*nope/m);
      expect(r.stdout).toMatch(/^two\n---\n +2\n/m);
    });
  });

  it('a module without files has its tables and views, empty', async () => {
    const partial = join(tmp, 'partial');
    await cp(demoDir, partial, { recursive: true });
    await rm(join(partial, 'mobile-assets'), { recursive: true });
    await rm(join(partial, 'manifests', 'module=mobile-assets'), { recursive: true });
    const [row] = await rows<{ latest: number; complete: number; pci: number }>(
      partial,
      'SELECT (SELECT count(*) FROM mobile_assets_latest) AS latest, ' +
        '(SELECT count(*) FROM mobile_assets_complete) AS complete, (SELECT count(*) FROM pci_scans_complete) AS pci',
    );
    expect(row).toMatchObject({ latest: 0, complete: 0 });
    expect(row!.pci).toBeGreaterThan(0);
  });

  it('--tenants reads <dir>/<tenant>/… with a tenant column', async () => {
    const tenants = join(tmp, 'tenants');
    await mkdir(tenants);
    for (const t of ['prod', 'eu']) await cp(demoDir, join(tenants, t), { recursive: true });
    const got = await rows<{ tenant: string; n: number }>(
      tenants,
      'SELECT tenant, count(*) AS n FROM pci_scans_latest GROUP BY tenant ORDER BY tenant',
      ['--tenants'],
    );
    const [pci] = await rows<{ n: number }>(demoDir, 'SELECT count(*) AS n FROM pci_scans_latest');
    expect(got).toEqual([
      { tenant: 'eu', n: pci!.n },
      { tenant: 'prod', n: pci!.n },
    ]);
  });

  it('--setup-sql prints the statements for the duckdb CLI, without loading DuckDB', async () => {
    const r = await qexport(['query', demoDir, '--setup-sql']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^SET TimeZone = 'UTC';$/m);
    for (const m of MODULES satisfies readonly ModuleName[])
      expect(r.stdout).toContain(`${demoDir}/${m}/dt=*/`);
    expect(r.stdout).toMatch(/CREATE OR REPLACE VIEW "edr_events_complete" AS/);
  });
});

describe('qexport query refuses what it cannot read, naming the fix', () => {
  it.each([
    [
      ['query', 's3://my-bucket/qualys', 'SELECT 1'],
      /query reads a local folder, not S3: copy the exports first, e\.g\. aws s3 sync s3:\/\/my-bucket\/qualys \.\/qualys-copy/,
    ],
    [['query', 'S3://my-bucket/qualys'], /did you mean s3:\/\/my-bucket\/qualys\?/],
    [['query', '/no/such/folder', 'SELECT 1'], /query: folder '\/no\/such\/folder' does not exist/],
    [['query'], /query takes an output folder and optionally one SQL text \(got 0 arguments\)/],
    [
      ['query', '.', 'SELECT 1', '--format', 'xml'],
      /--format must be one of table, csv, json, ndjson, got 'xml'/,
    ],
    [['query', '.', 'SELECT 1', '--max-rows', 'many'], /--max-rows must be a whole number, got 'many'/],
  ])('%j', async (args, pattern) => {
    const r = await qexport(args);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(pattern);
  });

  it('a folder with no export says what it expected', async () => {
    const empty = join(tmp, 'empty');
    await mkdir(empty);
    const r = await qexport(['query', empty, 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(lines(r.stderr)).toEqual([
      `qexport: no export found in ${empty}: expected ${empty}/<prefix>/<module>/dt=…/run=…/part-….ndjson.gz ` +
        `(<prefix> is QEXPORT_PREFIX, default qualys) or a demo's folder (qexport demo prints it)`,
    ]);
  });

  it('a folder with several exports lists them and names the way to pick one', async () => {
    const two = join(tmp, 'two');
    await mkdir(two);
    for (const n of ['demo-1', 'demo-2']) await cp(demoDir, join(two, n), { recursive: true });
    const r = await qexport(['query', two, 'SELECT 1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /holds 2 exports \(demo-1, demo-2\): name one, e\.g\. qexport query \S+\/demo-2$/m,
    );
  });

  it('without DuckDB installed (an installed qexport), says how to install it or use the duckdb CLI', async () => {
    // An installation without dev dependencies: the package.json and the built CLI, no node_modules, so
    // `import('@duckdb/node-api')` cannot resolve.
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const version = pkg.devDependencies['@duckdb/node-api']!;
    const current = JSON.parse(readFileSync(join(ROOT, 'dist', 'cli', 'current.json'), 'utf8')) as {
      id: string;
    };
    const installed = join(tmp, 'installed');
    const main = join(installed, 'dist', 'cli', current.id, 'main.mjs');
    await mkdir(join(installed, 'dist', 'cli', current.id), { recursive: true });
    await cp(join(ROOT, 'dist', 'cli', current.id, 'main.mjs'), main);
    await cp(join(ROOT, 'package.json'), join(installed, 'package.json'));
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { main } = await import(${JSON.stringify(pathToFileURL(main).href)});` +
          `process.exitCode = await main(['query', ${JSON.stringify(demoDir)}, 'SELECT 1']);`,
      ],
      { cwd: installed, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: tmp } },
    );
    expect(run.status, run.stderr).toBe(2);
    expect(lines(run.stderr)).toEqual([
      `qexport: qexport query needs DuckDB for Node.js (@duckdb/node-api@${version}), which is not installed here ` +
        '(`npm ci` in a clone installs it; an installed qexport leaves it out, 70 MB): ' +
        `run \`npm install --no-save @duckdb/node-api@${version}\` in ${installed}, ` +
        'or load the statements of `qexport query DIR --setup-sql` into the duckdb CLI',
    ]);
  });
});
