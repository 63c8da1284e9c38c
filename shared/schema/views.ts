/**
 * The complete-runs views, defined once and rendered for Athena (Trino SQL, deployed by the stack as Glue
 * VIRTUAL_VIEW tables) and for DuckDB (the contract tests run the very same logic on real files).
 *
 * A record is visible only when its run has a manifest: records join the manifests table on
 * `qexport_run = runId` (and `dt`, which prunes partitions). Snapshot modules get `<table>_latest` (the
 * records of the latest complete snapshot run); every module gets `<table>_complete` (the records of every
 * complete run: for EDR, every complete window). Views add typed columns (`*_at` timestamps, integers)
 * next to the raw fields, and the run's start and end.
 */
import type { ModuleName } from '../config';
import { MANIFEST_SCHEMA, MODULE_SCHEMAS } from './index';
import { columnName } from './glue';
import {
  dataFields,
  SchemaError,
  VALUE_FORMATS,
  type Field,
  type FieldType,
  type RecordSchema,
  type ValueFormat,
} from './model';
import { duckdbType, hiveType, trinoType } from './sql-types';

export type Dialect = 'athena' | 'duckdb';

/** A typed value's SQL type, per reader. */
interface SqlType {
  hive: string;
  trino: string;
  duckdb: string;
}

const TIMESTAMP: SqlType = { hive: 'timestamp', trino: 'timestamp(3)', duckdb: 'TIMESTAMP' };
const BIGINT: SqlType = { hive: 'bigint', trino: 'bigint', duckdb: 'BIGINT' };
const VARCHAR: SqlType = { hive: 'string', trino: 'varchar', duckdb: 'VARCHAR' };

const fieldSqlType = (t: FieldType, where: string): SqlType => ({
  hive: hiveType(t, where),
  trino: trinoType(t, where),
  duckdb: duckdbType(t, where),
});

/** Where the dialects differ: function names and lambda/row syntax. Everything else is shared SQL. */
interface DialectOps {
  parse(format: ValueFormat, expr: string): string;
  jsonString(expr: string, path: string): string;
  transform(array: string, variable: string, body: string): string;
  row(fields: { name: string; expr: string; type: SqlType }[]): string;
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
export const q = (id: string) => `"${id.replace(/"/g, '""')}"`;

export const DIALECTS: Record<Dialect, DialectOps> = {
  athena: {
    parse(format, e) {
      switch (format) {
        case 'pci-datetime':
          return `CAST(try(date_parse(${e}, '%M %e, %Y at %h:%i %p GMT')) AS timestamp(3))`;
        case 'epoch-ms':
          return `CAST(try(date_add('millisecond', ${e}, TIMESTAMP '1970-01-01 00:00:00.000')) AS timestamp(3))`;
        case 'edr-datetime':
          return `CAST(try(parse_datetime(${e}, 'yyyy-MM-dd''T''HH:mm:ss.SSSZ')) AT TIME ZONE 'UTC' AS timestamp(3))`;
        case 'mobile-datetime':
          return `CAST(try(date_parse(${e}, '%Y-%m-%d %H:%i:%s')) AS timestamp(3))`;
        case 'iso-datetime':
          return `CAST(try(from_iso8601_timestamp(${e})) AT TIME ZONE 'UTC' AS timestamp(3))`;
        case 'integer-string':
          return `try_cast(${e} AS bigint)`;
      }
    },
    jsonString: (e, path) => `json_extract_scalar(${e}, ${sqlString(path)})`,
    transform: (a, v, body) => `transform(${a}, ${v} -> ${body})`,
    row: (fields) =>
      `CAST(ROW(${fields.map((f) => f.expr).join(', ')}) AS ROW(${fields.map((f) => `${q(f.name)} ${f.type.trino}`).join(', ')}))`,
  },
  duckdb: {
    parse(format, e) {
      switch (format) {
        case 'pci-datetime':
          return `try_strptime(${e}, '%B %d, %Y at %I:%M %p GMT')`;
        case 'epoch-ms':
          return `epoch_ms(CAST(${e} AS BIGINT))`;
        case 'edr-datetime':
          return `timezone('UTC', try_strptime(${e}, '%Y-%m-%dT%H:%M:%S.%g%z'))`;
        case 'mobile-datetime':
          return `try_strptime(${e}, '%Y-%m-%d %H:%M:%S')`;
        case 'iso-datetime':
          return `timezone('UTC', TRY_CAST(${e} AS TIMESTAMPTZ))`;
        case 'integer-string':
          return `TRY_CAST(${e} AS BIGINT)`;
      }
    },
    jsonString: (e, path) => `json_extract_string(${e}, ${sqlString(path)})`,
    transform: (a, v, body) => `list_transform(${a}, lambda ${v}: ${body})`,
    row: (fields) =>
      `struct_pack(${fields.map((f) => `${q(f.name)} := CAST(${f.expr} AS ${f.type.duckdb})`).join(', ')})`,
  },
};

export interface ViewColumn {
  name: string;
  type: SqlType;
  /** Where the column comes from, for the data dictionary. */
  source: string;
}

interface SelectItem extends ViewColumn {
  expr: (d: DialectOps) => string;
}

const typedOf = (format: ValueFormat | undefined): SqlType | undefined =>
  format ? (VALUE_FORMATS[format].typed === 'timestamp' ? TIMESTAMP : BIGINT) : undefined;

/** Typed columns for the fields under `base` (structs are walked; an array needs its own x-typed name). */
function typedItems(fields: Field[], base: (d: DialectOps) => string, where: string): SelectItem[] {
  const out: SelectItem[] = [];
  for (const f of fields) {
    const expr = (d: DialectOps) => `${base(d)}.${q(f.name)}`;
    const path = where ? `${where}.${f.name}` : f.name;
    if (f.type.kind === 'struct') {
      if (f.typed) throw new SchemaError(`${path}: x-typed on a struct is not supported (type its fields)`);
      out.push(...typedItems(f.type.fields, expr, path));
      continue;
    }
    if (!f.typed) continue;
    if (f.type.kind === 'array') {
      const items = f.type.items;
      if (items.kind !== 'struct') throw new SchemaError(`${path}: x-typed on an array needs struct items`);
      const v = 'x';
      const rowFields = items.fields
        .filter((ff) => ff.typed)
        .map((ff) => {
          if (ff.type.kind !== 'scalar')
            throw new SchemaError(`${path}.${ff.name}: typed row fields are scalars`);
          return {
            name: ff.typed!,
            type: typedOf(ff.format) ?? fieldSqlType(ff.type, `${path}.${ff.name}`),
            raw: ff,
          };
        });
      if (!rowFields.length) throw new SchemaError(`${path}: x-typed array without typed item fields`);
      const rowType: SqlType = {
        hive: `struct<${rowFields.map((r) => `${r.name}:${r.type.hive}`).join(',')}>`,
        trino: `row(${rowFields.map((r) => `${q(r.name)} ${r.type.trino}`).join(', ')})`,
        duckdb: `STRUCT(${rowFields.map((r) => `${q(r.name)} ${r.type.duckdb}`).join(', ')})`,
      };
      out.push({
        name: f.typed,
        type: {
          hive: `array<${rowType.hive}>`,
          trino: `array(${rowType.trino})`,
          duckdb: `${rowType.duckdb}[]`,
        },
        source: `${path}[] typed: ${rowFields.map((r) => `${r.name} ← ${r.raw.name}`).join(', ')}`,
        expr: (d) =>
          d.transform(
            expr(d),
            v,
            d.row(
              rowFields.map((r) => {
                const e = `${v}.${q(r.raw.name)}`;
                return { name: r.name, type: r.type, expr: r.raw.format ? d.parse(r.raw.format, e) : e };
              }),
            ),
          ),
      });
      continue;
    }
    if (f.type.kind !== 'scalar') throw new SchemaError(`${path}: x-typed needs a scalar, array or struct`);
    const format = f.format;
    out.push({
      name: f.typed,
      type: typedOf(format) ?? fieldSqlType(f.type, path),
      source: format ? `${path} (${format})` : path,
      expr: (d) => (format ? d.parse(format, expr(d)) : expr(d)),
    });
  }
  return out;
}

export interface ViewDef {
  name: string;
  module: ModuleName;
  table: string;
  select: 'latest' | 'complete';
  description: string;
  columns: ViewColumn[];
  /** The view's SELECT in a dialect; table names are unqualified (resolved in the view's database). */
  sql(dialect: Dialect): string;
}

export const MANIFESTS_TABLE = MANIFEST_SCHEMA.table;

function manifestField(name: string): Field {
  const f = MANIFEST_SCHEMA.fields.find((x) => x.name === name);
  if (!f) throw new SchemaError(`manifest schema has no field '${name}'`);
  return f;
}

/**
 * With `tenants`, the tables and the manifests table have a `tenant` partition column (several subscriptions
 * in one stack): records join their manifest within their tenant, `_latest` is the latest complete snapshot of
 * each tenant, and the views carry `tenant`.
 */
function viewFor(
  module: ModuleName,
  schema: RecordSchema,
  select: 'latest' | 'complete',
  tenants = false,
): ViewDef {
  const raw: SelectItem[] = dataFields(schema).map((f) => ({
    name: columnName(f.name),
    type: fieldSqlType(f.type, `${schema.table}.${f.name}`),
    source: f.name,
    expr: () => `r.${q(columnName(f.name))}`,
  }));
  const dt: SelectItem = { name: 'dt', type: VARCHAR, source: 'partition dt', expr: () => 'r."dt"' };
  const tenant: SelectItem[] = tenants
    ? [{ name: 'tenant', type: VARCHAR, source: 'partition tenant', expr: () => 'r."tenant"' }]
    : [];
  const typed = typedItems(dataFields(schema), () => 'r', '');
  const started = manifestField('startedAt');
  const ended = manifestField('endedAt');
  const run: SelectItem[] = [started, ended].map((f) => ({
    name: f.typed!,
    type: TIMESTAMP,
    source: `manifest ${f.name}`,
    expr: () => `m.${q(f.typed!)}`,
  }));
  const incremental = schema.runKind === 'incremental';
  const window: SelectItem[] = incremental
    ? (['from', 'to'] as const).map((k) => ({
        name: `window_${k}`,
        type: TIMESTAMP,
        source: `manifest range.${k}`,
        expr: () => `m.${q(`window_${k}`)}`,
      }))
    : [];
  const items = [...raw, dt, ...tenant, ...typed, ...run, ...window];
  const names = new Set<string>();
  for (const c of items) {
    const key = c.name.toLowerCase();
    if (names.has(key)) throw new SchemaError(`${schema.table}: view column '${c.name}' is not unique`);
    names.add(key);
  }

  const name = `${schema.table}_${select}`;
  const sql = (dialect: Dialect) => {
    const d = DIALECTS[dialect];
    const parse = (f: Field, e: string) => d.parse(f.format!, e);
    const manifestCols = [
      `${q('runId')} AS run_id`,
      `${q('dt')} AS run_dt`,
      ...(tenants ? [`${q('tenant')} AS run_tenant`] : []),
      `${parse(started, q(started.name))} AS ${q(started.typed!)}`,
      `${parse(ended, q(ended.name))} AS ${q(ended.typed!)}`,
      ...(incremental
        ? (['from', 'to'] as const).map(
            (k) => `${d.parse('iso-datetime', d.jsonString(q('range'), `$.${k}`))} AS ${q(`window_${k}`)}`,
          )
        : []),
    ];
    const where = [`${q('module')} = ${sqlString(module)}`];
    if (select === 'latest') where.push(`${q('kind')} = 'snapshot'`);
    const latestOrder = `ORDER BY ${q('endedAt')} DESC, ${q('runId')} DESC`;
    const manifests =
      select === 'latest' && tenants
        ? // The latest complete snapshot of each tenant.
          [
            'SELECT * FROM (',
            `  SELECT ${manifestCols.join(', ')}, row_number() OVER (PARTITION BY ${q('tenant')} ${latestOrder}) AS latest_rank`,
            `  FROM ${q(MANIFESTS_TABLE)}`,
            `  WHERE ${where.join(' AND ')}`,
            ') AS ranked WHERE latest_rank = 1',
          ].join('\n    ')
        : [
            `SELECT ${manifestCols.join(', ')}`,
            `FROM ${q(MANIFESTS_TABLE)}`,
            `WHERE ${where.join(' AND ')}`,
            ...(select === 'latest' ? [latestOrder, 'LIMIT 1'] : []),
          ].join('\n    ');
    return [
      'SELECT',
      items.map((c) => `  ${c.expr(d)} AS ${q(c.name)}`).join(',\n'),
      `FROM ${q(schema.table)} AS r`,
      'JOIN (',
      `    ${manifests}`,
      ') AS m ON r."qexport_run" = m.run_id AND r."dt" = m.run_dt' +
        (tenants ? ' AND r."tenant" = m.run_tenant' : ''),
    ].join('\n');
  };

  const description =
    select === 'latest'
      ? `The ${module} records of the latest complete snapshot run (by endedAt)${tenants ? ' of each tenant' : ''}, with typed columns`
      : `The ${module} records of every complete run${incremental ? ' (every complete window)' : ''}${tenants ? ' of every tenant' : ''}, with typed columns`;
  return {
    name,
    module,
    table: schema.table,
    select,
    description,
    columns: items.map(({ name: n, type, source }) => ({ name: n, type, source })),
    sql,
  };
}

/** Every view the stack creates: `<table>_latest` for snapshot modules, `<table>_complete` for all. */
export function moduleViews(module: ModuleName, opts: { tenants?: boolean } = {}): ViewDef[] {
  const schema = MODULE_SCHEMAS[module];
  return [
    ...(schema.runKind === 'snapshot' ? [viewFor(module, schema, 'latest', opts.tenants)] : []),
    viewFor(module, schema, 'complete', opts.tenants),
  ];
}

/** The views of a stack, with `tenants` when its tables have the `tenant` partition column. */
export function allViews(opts: { tenants?: boolean } = {}): ViewDef[] {
  return (Object.keys(MODULE_SCHEMAS) as ModuleName[]).flatMap((m) => moduleViews(m, opts));
}

export const ALL_VIEWS: ViewDef[] = allViews();

/** The Presto view payload Athena keeps in a Glue VIRTUAL_VIEW table's ViewOriginalText. */
export interface PrestoViewDefinition {
  originalSql: string;
  catalog: string;
  schema: string;
  columns: { name: string; type: string }[];
}

export const PRESTO_VIEW_PREFIX = '/* Presto View: ';
export const PRESTO_VIEW_SUFFIX = ' */';

export function prestoView(view: ViewDef, database: string): PrestoViewDefinition {
  return {
    originalSql: view.sql('athena'),
    catalog: 'awsdatacatalog',
    schema: database,
    // Athena (Trino) analyses the SQL and compares names (lowercase) and types with this list.
    columns: view.columns.map((c) => ({ name: c.name.toLowerCase(), type: c.type.trino })),
  };
}

export function encodePrestoView(def: PrestoViewDefinition): string {
  return `${PRESTO_VIEW_PREFIX}${Buffer.from(JSON.stringify(def), 'utf8').toString('base64')}${PRESTO_VIEW_SUFFIX}`;
}

export function decodePrestoView(text: string): PrestoViewDefinition {
  if (!text.startsWith(PRESTO_VIEW_PREFIX) || !text.endsWith(PRESTO_VIEW_SUFFIX)) {
    throw new Error('not a Presto view: missing the "/* Presto View: " prefix or " */" suffix');
  }
  const b64 = text.slice(PRESTO_VIEW_PREFIX.length, -PRESTO_VIEW_SUFFIX.length);
  return JSON.parse(Buffer.from(b64, 'base64').toString('utf8')) as PrestoViewDefinition;
}
