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
import { allViews, MANIFESTS_TABLE, q } from './views';

const str = (s: string) => `'${s.replace(/'/g, "''")}'`;

function readJson(schema: RecordSchema, glob: string, partitions: string[], filename = false): string {
  const columns = dataFields(schema)
    .map((f) => `${str(f.name)}: ${str(duckdbType(f.type, `${schema.table}.${f.name}`))}`)
    .join(', ');
  const hiveTypes = partitions.map((p) => `${str(p)}: 'VARCHAR'`).join(', ');
  return (
    `read_json(${str(glob)}, format = 'newline_delimited', compression = 'gzip', ` +
    `hive_partitioning = true, hive_types = {${hiveTypes}}, columns = {${columns}}${filename ? ', filename = true' : ''})`
  );
}

/**
 * `CREATE VIEW <table>` over `<root>/<module>/dt=*\/run=*\/part-*.ndjson.gz`; with `tenants`, over every
 * `<root>/<tenant>/<module>/…`, with the tenant (the folder name, as the Glue tables project it) as a column.
 */
export function duckdbTableSql(module: ModuleName, root: string, opts: { tenants?: boolean } = {}): string {
  const schema = MODULE_SCHEMAS[module];
  const cols = dataFields(schema).map((f) => `${q(f.name)} AS ${q(columnName(f.name))}`);
  if (opts.tenants) {
    const glob = `${root}/*/${module}/dt=*/run=*/part-*.ndjson.gz`;
    const tenant = `regexp_extract(filename, ${str(`([^/]+)/${module}/dt=[^/]*/run=[^/]*/[^/]*$`)}, 1) AS ${q('tenant')}`;
    return `CREATE OR REPLACE VIEW ${q(schema.table)} AS SELECT ${[...cols, q('dt'), tenant].join(', ')} FROM ${readJson(schema, glob, ['dt', 'run'], true)}`;
  }
  const glob = `${root}/${module}/dt=*/run=*/part-*.ndjson.gz`;
  return `CREATE OR REPLACE VIEW ${q(schema.table)} AS SELECT ${[...cols, q('dt')].join(', ')} FROM ${readJson(schema, glob, ['dt', 'run'])}`;
}

/** `CREATE VIEW manifests` over `<root>/manifests/module=*\/dt=*\/*.json` (single-line JSON, not gzip). */
export function duckdbManifestsSql(root: string, opts: { tenants?: boolean } = {}): string {
  const schema = MANIFEST_SCHEMA;
  const cols = dataFields(schema).map((f) => q(f.name));
  const columns = dataFields(schema)
    .map((f) => `${str(f.name)}: ${str(duckdbType(f.type, `manifest.${f.name}`))}`)
    .join(', ');
  const glob = opts.tenants
    ? `${root}/*/manifests/module=*/dt=*/*.json`
    : `${root}/manifests/module=*/dt=*/*.json`;
  const tenant = opts.tenants
    ? [
        `regexp_extract(filename, ${str('([^/]+)/manifests/module=[^/]*/dt=[^/]*/[^/]*$')}, 1) AS ${q('tenant')}`,
      ]
    : [];
  return (
    `CREATE OR REPLACE VIEW ${q(MANIFESTS_TABLE)} AS SELECT ${[...cols, q('module'), q('dt'), ...tenant].join(', ')} ` +
    `FROM read_json(${str(glob)}, format = 'newline_delimited', hive_partitioning = true, ` +
    `hive_types = {'module': 'VARCHAR', 'dt': 'VARCHAR'}, columns = {${columns}}${opts.tenants ? ', filename = true' : ''})`
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
    ...allViews(opts)
      .filter((v) => modules.includes(v.module))
      .map((v) => `CREATE OR REPLACE VIEW ${q(v.name)} AS\n${v.sql('duckdb')}`),
  ];
}
