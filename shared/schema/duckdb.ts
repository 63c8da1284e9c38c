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
import { ALL_VIEWS, MANIFESTS_TABLE, q } from './views';

const str = (s: string) => `'${s.replace(/'/g, "''")}'`;

function readJson(schema: RecordSchema, glob: string, partitions: string[]): string {
  const columns = dataFields(schema)
    .map((f) => `${str(f.name)}: ${str(duckdbType(f.type, `${schema.table}.${f.name}`))}`)
    .join(', ');
  const hiveTypes = partitions.map((p) => `${str(p)}: 'VARCHAR'`).join(', ');
  return (
    `read_json(${str(glob)}, format = 'newline_delimited', compression = 'gzip', ` +
    `hive_partitioning = true, hive_types = {${hiveTypes}}, columns = {${columns}})`
  );
}

/** `CREATE VIEW <table>` over `<root>/<module>/dt=*\/run=*\/part-*.ndjson.gz`. */
export function duckdbTableSql(module: ModuleName, root: string): string {
  const schema = MODULE_SCHEMAS[module];
  const cols = dataFields(schema).map((f) => `${q(f.name)} AS ${q(columnName(f.name))}`);
  const glob = `${root}/${module}/dt=*/run=*/part-*.ndjson.gz`;
  return `CREATE OR REPLACE VIEW ${q(schema.table)} AS SELECT ${[...cols, q('dt')].join(', ')} FROM ${readJson(schema, glob, ['dt', 'run'])}`;
}

/** `CREATE VIEW manifests` over `<root>/manifests/module=*\/dt=*\/*.json` (single-line JSON, not gzip). */
export function duckdbManifestsSql(root: string): string {
  const schema = MANIFEST_SCHEMA;
  const cols = dataFields(schema).map((f) => q(f.name));
  const columns = dataFields(schema)
    .map((f) => `${str(f.name)}: ${str(duckdbType(f.type, `manifest.${f.name}`))}`)
    .join(', ');
  const glob = `${root}/manifests/module=*/dt=*/*.json`;
  return (
    `CREATE OR REPLACE VIEW ${q(MANIFESTS_TABLE)} AS SELECT ${[...cols, q('module'), q('dt')].join(', ')} ` +
    `FROM read_json(${str(glob)}, format = 'newline_delimited', hive_partitioning = true, ` +
    `hive_types = {'module': 'VARCHAR', 'dt': 'VARCHAR'}, columns = {${columns}})`
  );
}

/** Every statement that sets up the tables and the complete-runs views over an export root (`<out>/<prefix>`). */
export function duckdbSetup(
  root: string,
  modules: readonly ModuleName[] = Object.keys(MODULE_SCHEMAS) as ModuleName[],
): string[] {
  return [
    duckdbManifestsSql(root),
    ...modules.map((m) => duckdbTableSql(m, root)),
    ...ALL_VIEWS.filter((v) => modules.includes(v.module)).map(
      (v) => `CREATE OR REPLACE VIEW ${q(v.name)} AS\n${v.sql('duckdb')}`,
    ),
  ];
}
