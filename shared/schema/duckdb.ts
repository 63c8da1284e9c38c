/**
 * DuckDB over the exported files, with the same columns the Glue tables declare (generated from the
 * schemas) and the same view SQL the stack deploys. Used by the contract tests, and by anyone who wants to
 * query a local export (`qexport demo --out DIR`) or a synced copy of the bucket.
 */
import type { ModuleName } from '../config';
import { columnName } from './glue';
import { MANIFEST_SCHEMA, MODULE_SCHEMAS } from './index';
import { dataFields, type RecordSchema } from './model';
import { duckdbType } from './sql-types';
import { catalogViews, MANIFESTS_TABLE, q, sqlString } from './views';

/** Where a source has no file yet: read nothing, with the same columns and types. */
export interface SourceOptions {
  tenants?: boolean;
  /**
   * The glob matches no file (DuckDB's read_json refuses an empty glob): an empty relation with the same columns
   * and types stands in, so every table and view exists and returns no rows until files arrive.
   */
  empty?: boolean;
}

/**
 * `read_json(...)` over `glob` with the schema's columns and the hive partitions named; `gzip` for data parts,
 * `filename` to expose each row's file (for the tenant column). With `empty`, the same columns from no rows.
 */
function readJson(
  schema: RecordSchema,
  glob: string,
  partitions: string[],
  opts: { gzip: boolean; filename?: boolean; empty?: boolean },
): string {
  if (opts.empty) {
    const nulls = [
      ...dataFields(schema).map(
        (f) => `CAST(NULL AS ${duckdbType(f.type, `${schema.table}.${f.name}`)}) AS ${q(f.name)}`,
      ),
      ...partitions.map((p) => `CAST(NULL AS VARCHAR) AS ${q(p)}`),
      ...(opts.filename ? ['CAST(NULL AS VARCHAR) AS filename'] : []),
    ];
    return `(SELECT ${nulls.join(', ')} WHERE false)`;
  }
  const columns = dataFields(schema)
    .map((f) => `${sqlString(f.name)}: ${sqlString(duckdbType(f.type, `${schema.table}.${f.name}`))}`)
    .join(', ');
  const hiveTypes = partitions.map((p) => `${sqlString(p)}: 'VARCHAR'`).join(', ');
  return (
    `read_json(${sqlString(glob)}, format = 'newline_delimited', ${opts.gzip ? "compression = 'gzip', " : ''}` +
    `hive_partitioning = true, hive_types = {${hiveTypes}}, columns = {${columns}}${opts.filename ? ', filename = true' : ''})`
  );
}

/** The tenant of a row: the folder above `below` in its file's path, as the tenants' Glue tables project it. */
const tenantColumn = (below: string) =>
  `regexp_extract(filename, ${sqlString(`([^/]+)/${below}/[^/]*$`)}, 1) AS ${q('tenant')}`;

/** The data parts of `module` under an export root (`<root>/<tenant>/<module>/…` with `tenants`). */
export function duckdbTableGlob(module: ModuleName, root: string, opts: { tenants?: boolean } = {}): string {
  return `${root}/${opts.tenants ? '*/' : ''}${module}/dt=*/run=*/part-*.ndjson.gz`;
}

/** The catalogue manifests under an export root. */
export function duckdbManifestsGlob(root: string, opts: { tenants?: boolean } = {}): string {
  return `${root}/${opts.tenants ? '*/' : ''}manifests/module=*/dt=*/*.json`;
}

/**
 * `CREATE VIEW <table>` over `<root>/<module>/dt=*\/run=*\/part-*.ndjson.gz`; with `tenants`, over every
 * `<root>/<tenant>/<module>/…`, with the tenant (the folder name, as the Glue tables project it) as a column.
 */
export function duckdbTableSql(module: ModuleName, root: string, opts: SourceOptions = {}): string {
  const schema = MODULE_SCHEMAS[module];
  const cols = dataFields(schema).map((f) => `${q(f.name)} AS ${q(columnName(f.name))}`);
  const tenants = opts.tenants ?? false;
  const tenant = tenants ? [tenantColumn(`${module}/dt=[^/]*/run=[^/]*`)] : [];
  const source = readJson(schema, duckdbTableGlob(module, root, opts), ['dt', 'run'], {
    gzip: true,
    filename: tenants,
    empty: opts.empty,
  });
  return `CREATE OR REPLACE VIEW ${q(schema.table)} AS SELECT ${[...cols, q('dt'), ...tenant].join(', ')} FROM ${source}`;
}

/** `CREATE VIEW manifests` over `<root>/manifests/module=*\/dt=*\/*.json` (single-line JSON, not gzip). */
export function duckdbManifestsSql(root: string, opts: SourceOptions = {}): string {
  const cols = dataFields(MANIFEST_SCHEMA).map((f) => q(f.name));
  const tenants = opts.tenants ?? false;
  const tenant = tenants ? [tenantColumn('manifests/module=[^/]*/dt=[^/]*')] : [];
  const source = readJson(MANIFEST_SCHEMA, duckdbManifestsGlob(root, opts), ['module', 'dt'], {
    gzip: false,
    filename: tenants,
    empty: opts.empty,
  });
  return (
    `CREATE OR REPLACE VIEW ${q(MANIFESTS_TABLE)} AS SELECT ${[...cols, q('module'), q('dt'), ...tenant].join(', ')} ` +
    `FROM ${source}`
  );
}

/**
 * Every statement that sets up the tables and the complete-runs views over an export root (`<out>/<prefix>`);
 * with `tenants`, over the tenants' folders under it (`<out>/<prefix>/<tenant>/…`), as the tenants' Glue tables.
 * `empty` names the sources (`manifests` or a module) whose glob matches no file yet.
 */
export function duckdbSetup(
  root: string,
  modules: readonly ModuleName[] = Object.keys(MODULE_SCHEMAS) as ModuleName[],
  opts: { tenants?: boolean; empty?: ReadonlySet<ModuleName | 'manifests'> } = {},
): string[] {
  const empty = (source: ModuleName | 'manifests') => opts.empty?.has(source) ?? false;
  return [
    duckdbManifestsSql(root, { tenants: opts.tenants, empty: empty('manifests') }),
    ...modules.map((m) => duckdbTableSql(m, root, { tenants: opts.tenants, empty: empty(m) })),
    ...catalogViews(opts)
      .filter(
        (v) => modules.includes(v.module) && (v.select !== 'joined' || modules.includes('knowledgebase')),
      )
      .map((v) => `CREATE OR REPLACE VIEW ${q(v.name)} AS\n${v.sql('duckdb')}`),
  ];
}
