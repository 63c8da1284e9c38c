import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type * as DuckDB from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBResult } from '@duckdb/node-api';
import { ENV, MODULES, prefixProblem, type Env, type ModuleName } from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { duckdbManifestsGlob, duckdbSetup, duckdbTableGlob } from '../../shared/schema/duckdb';
import { allViews, MANIFESTS_TABLE } from '../../shared/schema/views';
import { MODULE_SCHEMAS } from '../../shared/schema';
import { intFlag, parseFlags } from './args';
import { cliEnv } from './dotenv';
import { parseOut } from './out';
import { locateExportRoot } from './roots';

const FORMATS = ['table', 'csv', 'json', 'ndjson'] as const;
type Format = (typeof FORMATS)[number];

const HELP = `qexport query <dir> ["<SQL>"] [options]

Runs SQL with DuckDB over a local output folder: the same tables and views readers get in Athena, generated
from the same schemas. Without SQL, reads statements from stdin (end each with ';'): an interactive prompt on a
terminal, a script otherwise (qexport query DIR < report.sql).

<dir> is an output folder: a demo's own folder (qexport demo prints it), --out of \`qexport export\` (its
QEXPORT_PREFIX folder, default qualys, is found inside), or a synced copy of the bucket prefix
(aws s3 sync s3://BUCKET/PREFIX DIR --exclude '_state/*').

Tables:  pci_scans, certview_certificates, edr_events, mobile_assets (every record of every run, complete or
         not), manifests (one row per complete run)
Views:   <table>_complete (records of complete runs only), pci_scans_latest, certview_certificates_latest,
         mobile_assets_latest (the latest complete snapshot; Mobile: each asset's current state)
Examples: docs/querying.md (each with its Athena version).

Options:
  --format table|csv|json|ndjson   output format (default table); csv, json and ndjson stream every row
  --max-rows N                     table: rows shown (default 100; the rest are counted)
  --tenants                        <dir> is a multi-tenant prefix (<dir>/<tenant>/<module>/…): a tenant column
  --setup-sql                      print the statements that create the tables and views (for the duckdb
                                   CLI: qexport query DIR --setup-sql > setup.sql; duckdb -init setup.sql)
  --dotenv FILE                    read QEXPORT_PREFIX from FILE (default ./.env when present)
  -h, --help                       this help

In the interactive mode: .tables, .schema NAME, .format FORMAT, .help, .quit (or Ctrl-D).

Exit codes: 0 done; 2 usage or setup problem (no export in <dir>, DuckDB not installed); 3 a statement failed.
`;

/** Cells longer than this are cut in the table format (use json for whole values). */
const CELL_MAX = 60;

export async function queryCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags('query', argv, {
    format: { type: 'string' },
    'max-rows': { type: 'string' },
    tenants: { type: 'boolean' },
    'setup-sql': { type: 'boolean' },
    dotenv: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length < 1 || positionals.length > 2) {
    throw new ConfigError(
      `query takes an output folder and optionally one SQL text (got ${positionals.length} arguments); ` +
        `e.g. qexport query ./exports "SELECT count(*) FROM manifests"`,
    );
  }
  const format = parseFormat(values.format, '--format');
  const maxRows = intFlag('max-rows', values['max-rows'], 100, 1, 1_000_000);
  const [dirArg, sql] = positionals as [string, string | undefined];
  const env = cliEnv(values.dotenv);
  const root = exportRoot(dirArg, values.tenants ?? false, env);
  const tenants = values.tenants ?? false;

  if (values['setup-sql']) {
    // Without DuckDB: sources are assumed present (the duckdb CLI reports an empty glob itself).
    process.stdout.write(`SET TimeZone = 'UTC';\n${duckdbSetup(root, MODULES, { tenants }).join(';\n')};\n`);
    return 0;
  }

  const db = await openDatabase(root, tenants);
  try {
    if (sql !== undefined) {
      if (sql.trim() === '') throw new ConfigError('the SQL text is empty');
      const ok = await runStatements(db.conn, sql, { format, maxRows }, (err) =>
        process.stderr.write(`qexport: query failed: ${indentRest(errText(err))}\n`),
      );
      return ok ? 0 : 3;
    }
    return await repl(db.conn, root, { format, maxRows });
  } finally {
    db.close();
  }
}

function parseFormat(value: string | undefined, name: string): Format {
  if (value === undefined) return 'table';
  if ((FORMATS as readonly string[]).includes(value)) return value as Format;
  throw new ConfigError(`${name} must be one of ${FORMATS.join(', ')}, got '${value}'`);
}

/** The export root inside the folder the user named (see locateExportRoot), refusing what is not local. */
function exportRoot(dirArg: string, tenants: boolean, env: Env): string {
  const where = parseOut(dirArg, 'query <dir>');
  if (where.kind === 's3') {
    throw new ConfigError(
      `query reads a local folder, not S3: copy the exports first, e.g. ` +
        `aws s3 sync s3://${where.bucket}${where.prefix ? `/${where.prefix}` : ''} ./qualys-copy --exclude '_state/*', ` +
        `then qexport query ./qualys-copy`,
    );
  }
  const base = resolve(where.path);
  if (!existsSync(base)) throw new ConfigError(`query: folder '${base}' does not exist`);
  // DuckDB reads the files through glob patterns, in which these characters are wildcards.
  if (/[*?[\]{}]/.test(base)) {
    throw new ConfigError(
      `query: the path '${base}' contains a glob character (* ? [ ] { }); move or link the folder to a plain path`,
    );
  }
  if (tenants) return base;
  const configured = (env[ENV.prefix]?.trim() || 'qualys').replace(/^\/+|\/+$/g, '');
  const problem = prefixProblem(configured);
  if (problem) throw new ConfigError(`${ENV.prefix} ${problem}, got '${configured}'`);
  const root = locateExportRoot(base, configured, 'qexport query');
  if (!root.found) {
    throw new ConfigError(
      `no export found in ${base}: expected ${base}/<prefix>/<module>/dt=…/run=…/part-….ndjson.gz ` +
        `(<prefix> is ${ENV.prefix}, default qualys) or a demo's folder (qexport demo prints it)`,
    );
  }
  return root.dir;
}

interface Database {
  conn: DuckDBConnection;
  close(): void;
}

/** The package.json of this installation (for the DuckDB version to install), if it can be found. */
function ownPackage(): { dir: string; duckdb?: string } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as {
          name?: string;
          devDependencies?: Record<string, string>;
          peerDependencies?: Record<string, string>;
        };
        if (pkg.name === 'qualys-export') {
          return {
            dir,
            duckdb: pkg.peerDependencies?.['@duckdb/node-api'] ?? pkg.devDependencies?.['@duckdb/node-api'],
          };
        }
      } catch {
        // not ours
      }
    }
    dir = dirname(dir);
  }
  return undefined;
}

/** Loads DuckDB only here (the rest of the CLI never does); a missing module is a setup problem naming the fix. */
async function loadDuckDB(): Promise<typeof DuckDB> {
  try {
    return await import('@duckdb/node-api');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const msg = err instanceof Error ? err.message : String(err);
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND' && !/Cannot find/.test(msg)) throw err;
    const pkg = ownPackage();
    const spec = `@duckdb/node-api${pkg?.duckdb ? `@${pkg.duckdb.replace(/^[\^~]/, '')}` : ''}`;
    throw new ConfigError(
      `qexport query needs DuckDB for Node.js (${spec}), which is not installed here ` +
        `(\`npm ci\` in a clone installs it; an installed qexport leaves it out, 70 MB): ` +
        `run \`npm install --no-save ${spec}\`${pkg ? ` in ${pkg.dir}` : ''}, ` +
        `or load the statements of \`qexport query DIR --setup-sql\` into the duckdb CLI`,
    );
  }
}

/** An in-memory DuckDB with the tables and views over `root`; sources without files are empty, not errors. */
async function openDatabase(root: string, tenants: boolean): Promise<Database> {
  const { DuckDBInstance } = await loadDuckDB();
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const close = () => {
    conn.closeSync();
    instance.closeSync();
  };
  try {
    await conn.run(`SET TimeZone = 'UTC'`);
    const empty = new Set<ModuleName | 'manifests'>();
    const sources: [ModuleName | 'manifests', string][] = [
      ['manifests', duckdbManifestsGlob(root, { tenants })],
      ...MODULES.map((m): [ModuleName, string] => [m, duckdbTableGlob(m, root, { tenants })]),
    ];
    for (const [source, glob] of sources) {
      const rows = (await conn.runAndReadAll('SELECT count(*) AS n FROM glob($1)', [glob])).getRowsJson();
      if (String(rows[0]?.[0]) === '0') empty.add(source);
    }
    for (const sql of duckdbSetup(root, MODULES, { tenants, empty })) await conn.run(sql);
    return { conn, close };
  } catch (err) {
    close();
    throw err;
  }
}

interface Output {
  format: Format;
  maxRows: number;
}

/** Runs every statement of `sql` in order, printing each result; false when one failed (the rest are skipped). */
async function runStatements(
  conn: DuckDBConnection,
  sql: string,
  out: Output,
  onError: (err: unknown) => void,
): Promise<boolean> {
  try {
    const statements = await conn.extractStatements(sql);
    for (let i = 0; i < statements.count; i++) {
      const prepared = await statements.prepare(i);
      const result = await prepared.stream();
      if (i > 0 && out.format === 'table') process.stdout.write('\n');
      await printResult(result, out);
    }
    return true;
  } catch (err) {
    onError(err);
    return false;
  }
}

const NUMERIC =
  /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL)/;

/** A JSON value as output: integers DuckDB gives as strings (BIGINT) become numbers where that is exact. */
function jsonValue(v: unknown, numeric: boolean): unknown {
  if (numeric && typeof v === 'string' && /^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)))
    return Number(v);
  return v;
}

function cellText(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Streams a result to stdout in the chosen format (the table format holds at most maxRows rows). */
async function printResult(result: DuckDBResult, out: Output): Promise<void> {
  const names = result.columnNames();
  if (names.length === 0) return;
  const numeric = result.columnTypes().map((t) => NUMERIC.test(String(t)));
  const write = (s: string) => process.stdout.write(s);
  if (out.format === 'csv') {
    write(`${names.map(csvCell).join(',')}\n`);
    for await (const rows of result.yieldRowsJson()) {
      write(rows.map((r) => `${r.map(csvCell).join(',')}\n`).join(''));
    }
    return;
  }
  if (out.format === 'json' || out.format === 'ndjson') {
    const keys = result.deduplicatedColumnNames();
    let first = true;
    if (out.format === 'json') write('[');
    for await (const rows of result.yieldRowsJson()) {
      for (const r of rows) {
        const obj = Object.fromEntries(keys.map((k, i) => [k, jsonValue(r[i], numeric[i]!)]));
        if (out.format === 'ndjson') write(`${JSON.stringify(obj)}\n`);
        else {
          write(`${first ? '\n' : ',\n'}  ${JSON.stringify(obj)}`);
          first = false;
        }
      }
    }
    if (out.format === 'json') write(first ? ']\n' : '\n]\n');
    return;
  }
  const shown: string[][] = [];
  let total = 0;
  for await (const rows of result.yieldRowsJson()) {
    for (const r of rows) {
      total++;
      if (shown.length < out.maxRows) {
        shown.push(
          r.map((v) => {
            const t = cellText(v).replace(/\s*\n\s*/g, ' ');
            return t.length > CELL_MAX ? `${t.slice(0, CELL_MAX - 1)}…` : t;
          }),
        );
      }
    }
  }
  const widths = names.map((n, i) => Math.max(n.length, ...shown.map((r) => r[i]!.length)));
  const pad = (s: string, i: number) => (numeric[i] ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  write(`${names.map(pad).join('  ').trimEnd()}\n`);
  write(`${widths.map((w) => '-'.repeat(w)).join('  ')}\n`);
  for (const r of shown) write(`${r.map(pad).join('  ').trimEnd()}\n`);
  write(
    total > shown.length
      ? `(${total} rows, first ${shown.length} shown: add LIMIT, raise --max-rows or use --format csv)\n`
      : `(${total} row${total === 1 ? '' : 's'})\n`,
  );
}

function errText(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim();
}

/** A multi-line message (DuckDB's point at the error position) with its later lines indented. */
function indentRest(text: string): string {
  return text.replace(/\n/g, '\n  ');
}

/**
 * Whether `text` ends a statement: its last significant character, outside quotes and comments, is ';'.
 * Unterminated quotes or block comments mean more lines follow.
 */
export function endsStatement(text: string): boolean {
  let last = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const close = text.indexOf(c, i + 1);
      if (close < 0) return false;
      // A doubled quote inside is an escaped quote: the scan continues after the closing one either way.
      i = close;
      last = c;
    } else if (c === '-' && text[i + 1] === '-') {
      const nl = text.indexOf('\n', i);
      if (nl < 0) break;
      i = nl;
    } else if (c === '/' && text[i + 1] === '*') {
      const close = text.indexOf('*/', i + 2);
      if (close < 0) return false;
      i = close + 1;
    } else if (!/\s/.test(c)) last = c;
  }
  return last === ';';
}

const REPL_HELP = `Statements end with ';' and may span lines. Commands:
  .tables           the tables and views
  .schema NAME      the columns of a table or view
  .format FORMAT    table, csv, json or ndjson
  .help             this help
  .quit             leave (or Ctrl-D)
`;

/**
 * Statements from stdin. On a terminal: a prompt, Ctrl-C cancels the statement being typed (or interrupts the
 * running one), Ctrl-D leaves. Otherwise (a pipe or a file): no prompt, every statement runs in order, and the
 * exit code says whether any failed (3).
 */
async function repl(conn: DuckDBConnection, root: string, out: Output): Promise<number> {
  const tty = Boolean(process.stdin.isTTY);
  const rl = createInterface({
    input: process.stdin,
    output: tty ? process.stdout : undefined,
    terminal: tty,
  });
  let failed = false;
  let running = false;
  let buffer = '';
  const prompt = () => {
    if (!tty) return;
    rl.setPrompt(buffer ? '   ...> ' : 'qexport> ');
    rl.prompt();
  };
  if (tty) {
    const views = allViews().map((v) => v.name);
    process.stdout.write(
      `DuckDB over ${root}\n` +
        `tables: ${[...MODULES.map((m) => MODULE_SCHEMAS[m].table), MANIFESTS_TABLE].join(', ')}\n` +
        `views:  ${views.join(', ')}\n` +
        `End statements with ';'. .help for commands, .quit or Ctrl-D to leave.\n`,
    );
    rl.on('SIGINT', () => {
      if (running) {
        conn.interrupt();
        return;
      }
      buffer = '';
      process.stdout.write('^C\n');
      prompt();
    });
  }
  const report = (err: unknown) => {
    failed = true;
    process.stderr.write(`Error: ${errText(err)}\n`);
  };
  const run = async (sql: string) => {
    running = true;
    try {
      await runStatements(conn, sql, out, report);
    } finally {
      running = false;
    }
  };
  prompt();
  for await (const line of rl) {
    const trimmed = line.trim();
    if (!buffer && trimmed.startsWith('.')) {
      const [cmd, ...args] = trimmed.split(/\s+/);
      if (cmd === '.quit' || cmd === '.exit') break;
      if (cmd === '.help') process.stdout.write(REPL_HELP);
      else if (cmd === '.tables') {
        await run(
          `SELECT table_name AS name, lower(table_type) AS kind FROM information_schema.tables ` +
            `WHERE table_schema = 'main' ORDER BY kind, name;`,
        );
      } else if (cmd === '.schema' && args.length === 1) {
        await run(`DESCRIBE ${args[0]!.replace(/[^A-Za-z0-9_]/g, '')};`);
      } else if (cmd === '.format' && args.length === 1) {
        try {
          out = { ...out, format: parseFormat(args[0], '.format') };
        } catch (err) {
          report(err);
        }
      } else report(new Error(`unknown command '${trimmed}' (.help lists them)`));
      prompt();
      continue;
    }
    buffer += `${line}\n`;
    if (endsStatement(buffer)) {
      const sql = buffer;
      buffer = '';
      await run(sql);
    }
    prompt();
  }
  if (buffer.trim()) await run(buffer);
  rl.close();
  if (tty) process.stdout.write('\n');
  return failed && !tty ? 3 : 0;
}
