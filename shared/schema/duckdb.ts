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

/**
 * `read_json(...)` over `glob` with the schema's columns and the hive partitions named; `gzip` for data parts,
 * `filename` to expose each row's file (for the tenant column).
 */
function readJson(
  schema: RecordSchema,
  glob: string,
  partitions: string[],
  opts: { gzip: boolean; filename?: boolean },
): string {
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

/**
 * `CREATE VIEW <table>` over `<root>/<module>/dt=*\/run=*\/part-*.ndjson.gz`; with `tenants`, over every
 * `<root>/<tenant>/<module>/…`, with the tenant (the folder name, as the Glue tables project it) as a column.
 */
export function duckdbTableSql(module: ModuleName, root: string, opts: { tenants?: boolean } = {}): string {
  const schema = MODULE_SCHEMAS[module];
  const cols = dataFields(schema).map((f) => `${q(f.name)} AS ${q(columnName(f.name))}`);
  const tenants = opts.tenants ?? false;
  const glob = `${root}/${tenants ? '*/' : ''}${module}/dt=*/run=*/part-*.ndjson.gz`;
  const tenant = tenants ? [tenantColumn(`${module}/dt=[^/]*/run=[^/]*`)] : [];
  return (
    `CREATE OR REPLACE VIEW ${q(schema.table)} AS SELECT ${[...cols, q('dt'), ...tenant].join(', ')} ` +
    `FROM ${readJson(schema, glob, ['dt', 'run'], { gzip: true, filename: tenants })}`
  );
}

/** `CREATE VIEW manifests` over `<root>/manifests/module=*\/dt=*\/*.json` (single-line JSON, not gzip). */
export function duckdbManifestsSql(root: string, opts: { tenants?: boolean } = {}): string {
  const cols = dataFields(MANIFEST_SCHEMA).map((f) => q(f.name));
  const tenants = opts.tenants ?? false;
  const glob = `${root}/${tenants ? '*/' : ''}manifests/module=*/dt=*/*.json`;
  const tenant = tenants ? [tenantColumn('manifests/module=[^/]*/dt=[^/]*')] : [];
  return (
    `CREATE OR REPLACE VIEW ${q(MANIFESTS_TABLE)} AS SELECT ${[...cols, q('module'), q('dt'), ...tenant].join(', ')} ` +
    `FROM ${readJson(MANIFEST_SCHEMA, glob, ['module', 'dt'], { gzip: false, filename: tenants })}`
  );
}

/**
 * Every statement that sets up the tables and the complete-runs views over an export root (`<out>/<prefix>`);
 * with `tenants`, over the tenants' folders under it (`<out>/<prefix>/<tenant>/…`), as the tenants' Glue tables.
 */
export function duckdbSetup(
  root: string,
  modules: readonly ModuleName[] = Object.keys(MODULE_SCHEMAS) as ModuleName[],
  opts: { tenants?: boolean } = {},
): string[] {
  return [
    duckdbManifestsSql(root, opts),
    ...modules.map((m) => duckdbTableSql(m, root, opts)),
    ...catalogViews(opts)
      .filter(
        (v) => modules.includes(v.module) && (v.select !== 'joined' || modules.includes('knowledgebase')),
      )
      .map((v) => `CREATE OR REPLACE VIEW ${q(v.name)} AS\n${v.sql('duckdb')}`),
  ];
}
