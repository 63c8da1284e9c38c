/**
 * The complete-runs views, defined once and rendered for Athena (Trino SQL, deployed by the stack as Glue
 * VIRTUAL_VIEW tables) and for DuckDB (the contract tests run the very same logic on real files).
 *
 * A record is visible only when its run has a manifest: records join the manifests table on
 * `qexport_run = runId` (and `dt`, which prunes partitions). Snapshot modules get `<table>_latest` (the
 * records of the latest complete snapshot run); mixed modules (Mobile: snapshots, and increments between them
 * when configured) get `<table>_latest` as the current state of each record id (its newest record since the
 * latest complete snapshot, x-merge-key arrays merged across versions); every module gets `<table>_complete`
 * (the records of every complete run: for EDR, every complete window). Views add typed columns (`*_at`
 * timestamps, integers) next to the raw fields, the run's start and end, and for mixed modules its kind.
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
  /**
   * `CROSS JOIN UNNEST(<array of rows>) WITH ORDINALITY` as `alias`: the FROM-clause text, how to read one field of
   * the element, and the 1-based position column. Trino expands a row's fields into columns; DuckDB keeps the
   * element a struct.
   */
  unnestRows(
    array: string,
    alias: string,
    fields: string[],
    position: string,
  ): { from: string; field: (name: string) => string };
}

/** A SQL string literal (single quotes doubled), the same in Athena/Presto, Spark, Snowflake and DuckDB. */
export const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;
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
    unnestRows: (array, alias, fields, position) => ({
      from: `CROSS JOIN UNNEST(${array}) WITH ORDINALITY AS ${alias}(${[...fields.map(q), position].join(', ')})`,
      field: (name) => `${alias}.${q(name)}`,
    }),
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
    unnestRows: (array, alias, _fields, position) => ({
      from: `CROSS JOIN UNNEST(${array}) WITH ORDINALITY AS ${alias}(qx_element, ${position})`,
      field: (name) => `${alias}.qx_element.${q(name)}`,
    }),
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
  /** `joined`: a view over other views (the detections joined to the KnowledgeBase), not over one table. */
  select: 'latest' | 'complete' | 'joined';
  /** A latest view that is the current state of each record id (mixed modules), not one run's records. */
  current: boolean;
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

/** The array a current-state view merges across an id's records: a top-level struct holding one array field. */
export interface MergeSpec {
  /** The top-level struct column (Mobile: DETECTION_LIST) and its one array field (DETECTION). */
  parent: Field;
  array: Field;
  items: Field[];
  key: string;
}

export function mergeSpec(schema: RecordSchema): MergeSpec | undefined {
  const found: MergeSpec[] = [];
  for (const parent of dataFields(schema)) {
    if (parent.type.kind !== 'struct') continue;
    for (const array of parent.type.fields) {
      if (!array.mergeKey || array.type.kind !== 'array' || array.type.items.kind !== 'struct') continue;
      if (parent.type.fields.length !== 1) {
        throw new SchemaError(
          `${schema.table}.${parent.name}: x-merge-key needs its array to be the struct's only field`,
        );
      }
      found.push({ parent, array, items: array.type.items.fields, key: array.mergeKey });
    }
  }
  if (found.length > 1) throw new SchemaError(`${schema.table}: at most one x-merge-key array`);
  return found[0];
}

/**
 * With `tenants`, the tables and the manifests table have a `tenant` partition column (several subscriptions
 * in one stack): records join their manifest within their tenant, `_latest` is the latest complete snapshot (or,
 * for a mixed module, the current state) of each tenant, and the views carry `tenant`.
 */
function viewFor(
  module: ModuleName,
  schema: RecordSchema,
  select: 'latest' | 'complete',
  tenants = false,
): ViewDef {
  const incremental = schema.runKind === 'incremental';
  const mixed = schema.runKind === 'mixed';
  /** A mixed module's latest view is the current state of each record id, not one run's records. */
  const current = mixed && select === 'latest';
  if (current && !schema.idField) throw new SchemaError(`${schema.table}: a mixed run kind needs x-id`);
  // Run columns come from the manifests subquery (m), or, in a current-state view, from the record's row (r).
  const runAlias = current ? 'r' : 'm';
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
    expr: () => `${runAlias}.${q(f.typed!)}`,
  }));
  const kind: SelectItem[] = mixed
    ? [{ name: 'run_kind', type: VARCHAR, source: 'manifest kind', expr: () => `${runAlias}.run_kind` }]
    : [];
  const window: SelectItem[] = incremental
    ? (['from', 'to'] as const).map((k) => ({
        name: `window_${k}`,
        type: TIMESTAMP,
        source: `manifest range.${k}`,
        expr: () => `m.${q(`window_${k}`)}`,
      }))
    : [];
  const items = [...raw, dt, ...tenant, ...typed, ...run, ...kind, ...window];
  const names = new Set<string>();
  for (const c of items) {
    const key = c.name.toLowerCase();
    if (names.has(key)) throw new SchemaError(`${schema.table}: view column '${c.name}' is not unique`);
    names.add(key);
  }

  const name = `${schema.table}_${select}`;
  const manifestColumns = (d: DialectOps) => {
    const parse = (f: Field, e: string) => d.parse(f.format!, e);
    return [
      `${q('runId')} AS run_id`,
      `${q('dt')} AS run_dt`,
      ...(tenants ? [`${q('tenant')} AS run_tenant`] : []),
      `${parse(started, q(started.name))} AS ${q(started.typed!)}`,
      `${parse(ended, q(ended.name))} AS ${q(ended.typed!)}`,
      ...(mixed ? [`${q('kind')} AS run_kind`] : []),
      ...(incremental
        ? (['from', 'to'] as const).map(
            (k) => `${d.parse('iso-datetime', d.jsonString(q('range'), `$.${k}`))} AS ${q(`window_${k}`)}`,
          )
        : []),
    ];
  };
  const select1 = (d: DialectOps, from: string) =>
    ['SELECT', items.map((c) => `  ${c.expr(d)} AS ${q(c.name)}`).join(',\n'), from].join('\n');

  const sql = (dialect: Dialect) => {
    const d = DIALECTS[dialect];
    if (current) {
      return currentStateSql(d, module, schema, tenants, manifestColumns(d), (from) => select1(d, from));
    }
    const where = [`${q('module')} = ${sqlString(module)}`];
    if (select === 'latest') where.push(`${q('kind')} = 'snapshot'`);
    const latestOrder = `ORDER BY ${q('endedAt')} DESC, ${q('runId')} DESC`;
    const manifestCols = manifestColumns(d);
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
    return select1(
      d,
      [
        `FROM ${q(schema.table)} AS r`,
        'JOIN (',
        `    ${manifests}`,
        ') AS m ON r."qexport_run" = m.run_id AND r."dt" = m.run_dt' +
          (tenants ? ' AND r."tenant" = m.run_tenant' : ''),
      ].join('\n'),
    );
  };

  const merge = current ? mergeSpec(schema) : undefined;
  const description = current
    ? `The current state of each ${module} record (by ${schema.idField}${tenants ? ' within each tenant' : ''}): ` +
      'its newest record among the complete runs since (and including) the latest complete snapshot run (by endedAt)' +
      (merge
        ? `, with ${merge.parent.name}.${merge.array.name} merged per ${merge.key}, each from the newest record ` +
          'holding it (an incremental run lists only what changed)'
        : '') +
      '; typed columns and the kind of run each row comes from'
    : select === 'latest'
      ? `The ${module} records of the latest complete snapshot run (by endedAt)${tenants ? ' of each tenant' : ''}, with typed columns`
      : `The ${module} records of every complete run${incremental ? ' (every complete window)' : mixed ? ' (snapshots and increments; run_kind says which)' : ''}${tenants ? ' of every tenant' : ''}, with typed columns`;
  return {
    name,
    module,
    table: schema.table,
    select,
    current,
    description,
    columns: items.map(({ name: n, type, source }) => ({ name: n, type, source })),
    sql,
  };
}

/**
 * The current-state view of a mixed (snapshot + incremental) module, as one statement over the module table and
 * the manifests:
 * - `qx_runs`: the complete runs since (and including) the latest complete snapshot run, ordered by endedAt, runId
 *   (runs of one module never overlap: they hold its lease one at a time);
 * - `qx_versions`: every record of those runs, numbered per record id from the newest run (`qx_version` 1);
 * - `qx_merged` (when the schema names an x-merge-key array): the array's elements of every version, the newest
 *   per key, in the order newest version first, then position: a pure snapshot keeps its order exactly;
 * - `qx_current`: the newest version of each id, with the merged array in place of its own.
 */
function currentStateSql(
  d: DialectOps,
  module: ModuleName,
  schema: RecordSchema,
  tenants: boolean,
  manifestColumns: string[],
  finalSelect: (from: string) => string,
): string {
  const id = q(columnName(schema.idField!));
  const merge = mergeSpec(schema);
  const runCols = ['run_id', 'run_dt', q('run_started_at'), q('run_ended_at'), 'run_kind'];
  // With tenants, everything happens within a tenant: its own latest snapshot, its own versions of an id.
  const byTenant = (alias: string) => (tenants ? `${alias}."tenant", ` : '');
  const latest = 'ORDER BY run_end_text DESC, run_id DESC';
  const base = tenants
    ? 'qx_base AS (\n    SELECT run_tenant, run_end_text, run_id FROM (\n' +
      `      SELECT run_tenant, run_end_text, run_id, row_number() OVER (PARTITION BY run_tenant ${latest}) AS qx_rank\n` +
      "      FROM qx_manifests WHERE run_kind = 'snapshot'\n    ) AS b\n    WHERE qx_rank = 1\n)"
    : `qx_base AS (\n    SELECT run_end_text, run_id FROM qx_manifests WHERE run_kind = 'snapshot'\n` +
      `    ${latest}\n    LIMIT 1\n)`;
  const ctes = [
    `qx_manifests AS (\n    SELECT ${[...manifestColumns, `${q('endedAt')} AS run_end_text`].join(', ')}\n` +
      `    FROM ${q(MANIFESTS_TABLE)}\n    WHERE ${q('module')} = ${sqlString(module)}\n)`,
    base,
    'qx_runs AS (\n    SELECT qx_manifests.* FROM qx_manifests CROSS JOIN qx_base\n' +
      `    WHERE ${tenants ? 'qx_manifests.run_tenant = qx_base.run_tenant AND (' : ''}` +
      'qx_manifests.run_end_text > qx_base.run_end_text\n' +
      '       OR (qx_manifests.run_end_text = qx_base.run_end_text AND qx_manifests.run_id >= qx_base.run_id)' +
      `${tenants ? ')' : ''}\n)`,
    `qx_versions AS (\n    SELECT r.*, ${runCols.map((c) => `s.${c}`).join(', ')},\n` +
      `      row_number() OVER (PARTITION BY ${byTenant('r')}r.${id} ORDER BY s.run_end_text DESC, s.run_id DESC) AS qx_version\n` +
      `    FROM ${q(schema.table)} AS r\n` +
      '    JOIN qx_runs AS s ON r."qexport_run" = s.run_id AND r."dt" = s.run_dt' +
      `${tenants ? ' AND r."tenant" = s.run_tenant' : ''}\n)`,
  ];
  const data = dataFields(schema);
  let columns = data.map((f) => `v.${q(columnName(f.name))}`);
  let join = '';
  if (merge) {
    const parentCol = q(columnName(merge.parent.name));
    const u = d.unnestRows(
      `v.${parentCol}.${q(merge.array.name)}`,
      'u',
      merge.items.map((f) => f.name),
      'qx_position',
    );
    const element = d.row(
      merge.items.map((f) => ({
        name: f.name,
        expr: u.field(f.name),
        type: fieldSqlType(f.type, `${schema.table}.${merge.parent.name}.${merge.array.name}.${f.name}`),
      })),
    );
    const tenantCol = tenants ? 'qx_tenant, ' : '';
    ctes.push(
      'qx_elements AS (\n' +
        `    SELECT ${tenants ? 'v."tenant" AS qx_tenant, ' : ''}v.${id} AS qx_id, v.qx_version, qx_position, ${element} AS qx_element,\n` +
        `      row_number() OVER (PARTITION BY ${byTenant('v')}v.${id}, ${u.field(merge.key)} ORDER BY v.qx_version) AS qx_newest\n` +
        `    FROM qx_versions AS v ${u.from}\n)`,
      'qx_merged AS (\n' +
        `    SELECT ${tenantCol}qx_id, array_agg(qx_element ORDER BY qx_version, qx_position) AS qx_elements\n` +
        `    FROM qx_elements WHERE qx_newest = 1 GROUP BY ${tenantCol}qx_id\n)`,
    );
    const arrayType = fieldSqlType(
      merge.array.type,
      `${schema.table}.${merge.parent.name}.${merge.array.name}`,
    );
    const rebuilt = d.row([{ name: merge.array.name, expr: 'g.qx_elements', type: arrayType }]);
    columns = data.map((f) =>
      f === merge.parent
        ? `CASE WHEN g.qx_elements IS NULL THEN NULL ELSE ${rebuilt} END AS ${parentCol}`
        : `v.${q(columnName(f.name))}`,
    );
    join = ` LEFT JOIN qx_merged AS g ON g.qx_id = v.${id}${tenants ? ' AND g.qx_tenant = v."tenant"' : ''}`;
  }
  const keep = [...columns, 'v."dt"', ...(tenants ? ['v."tenant"'] : []), ...runCols.map((c) => `v.${c}`)];
  ctes.push(
    `qx_current AS (\n    SELECT ${keep.join(', ')}\n` +
      `    FROM qx_versions AS v${join}\n    WHERE v.qx_version = 1\n)`,
  );
  return `WITH ${ctes.join(',\n')}\n${finalSelect('FROM qx_current AS r')}`;
}

/**
 * Every view the stack creates: `<table>_latest` for snapshot modules (the latest snapshot run) and mixed ones (the
 * current state of each record), `<table>_complete` for all.
 */
export function moduleViews(module: ModuleName, opts: { tenants?: boolean } = {}): ViewDef[] {
  const schema = MODULE_SCHEMAS[module];
  return [
    ...(schema.runKind !== 'incremental' ? [viewFor(module, schema, 'latest', opts.tenants)] : []),
    viewFor(module, schema, 'complete', opts.tenants),
  ];
}

/** The views of a stack, with `tenants` when its tables have the `tenant` partition column. */
export function allViews(opts: { tenants?: boolean } = {}): ViewDef[] {
  return (Object.keys(MODULE_SCHEMAS) as ModuleName[]).flatMap((m) => moduleViews(m, opts));
}

export const ALL_VIEWS: ViewDef[] = allViews();

/**
 * `vmdr_detections_kb`: one row per detection of the current state of each host (`vmdr_detections_latest`), with
 * the KnowledgeBase entry of its QID as it stands now (`knowledgebase_latest`): title, severity, CVEs, CVSS. A
 * detection whose QID the KnowledgeBase export does not hold yet (newer than the last KB run) keeps its row, with
 * the KB columns null.
 */
export function detectionKbView(opts: { tenants?: boolean } = {}): ViewDef {
  const tenants = opts.tenants ?? false;
  const hosts = viewFor('vmdr-detections', MODULE_SCHEMAS['vmdr-detections'], 'latest', tenants);
  const kb = viewFor('knowledgebase', MODULE_SCHEMAS.knowledgebase, 'latest', tenants);
  const hostSchema = MODULE_SCHEMAS['vmdr-detections'];
  const list = hostSchema.fields.find((f) => f.name === 'DETECTION_LIST')!;
  const detection =
    list.type.kind === 'struct' ? list.type.fields.find((f) => f.name === 'DETECTION') : undefined;
  if (detection?.type.kind !== 'array' || detection.type.items.kind !== 'struct') {
    throw new SchemaError('vmdr_detections: DETECTION_LIST.DETECTION must be an array of objects');
  }
  const items = detection.type.items.fields;
  const itemType = (name: string): SqlType => {
    const f = items.find((x) => x.name === name)!;
    return fieldSqlType(f.type, `vmdr_detections.DETECTION.${name}`);
  };
  const hostCol = (name: string): SqlType =>
    hosts.columns.find((c) => c.name === name)?.type ??
    (() => {
      throw new SchemaError(`vmdr_detections_latest has no column '${name}'`);
    })();
  const kbCol = (name: string): SqlType =>
    kb.columns.find((c) => c.name === name)?.type ??
    (() => {
      throw new SchemaError(`knowledgebase_latest has no column '${name}'`);
    })();
  const DOUBLE: SqlType = { hive: 'double', trino: 'double', duckdb: 'DOUBLE' };
  const VARCHARS: SqlType = { hive: 'array<string>', trino: 'array(varchar)', duckdb: 'VARCHAR[]' };
  type Col = {
    name: string;
    type: SqlType;
    source: string;
    expr: (d: DialectOps, det: (f: string) => string) => string;
  };
  const fromHost = (name: string, as = name, source = `vmdr_detections_latest.${name}`): Col => ({
    name: as,
    type: hostCol(name),
    source,
    expr: () => `h.${q(name)}`,
  });
  const fromDetection = (field: string, as: string, format?: ValueFormat): Col => ({
    name: as,
    type: format ? (typedOf(format) ?? itemType(field)) : itemType(field),
    source: `DETECTION_LIST.DETECTION[].${field}${format ? ` (${format})` : ''}`,
    expr: (d, det) => (format ? d.parse(format, det(field)) : det(field)),
  });
  const fromKb = (name: string, as: string): Col => ({
    name: as,
    type: kbCol(name),
    source: `knowledgebase_latest.${name}`,
    expr: () => `k.${q(name)}`,
  });
  /** A CVSS score from its JSON text (a plain value, or {"@_source": …, "#text": "7.5"}) or its plain text. */
  const score = (path: string, as: string): Col => ({
    name: as,
    type: DOUBLE,
    source: `knowledgebase_latest.${path} (the number in it)`,
    expr: () => `TRY_CAST(regexp_extract(CAST(k.${path} AS VARCHAR), '[0-9]+([.][0-9]+)?') AS DOUBLE)`,
  });
  const cols: Col[] = [
    fromHost('ID', 'host_id'),
    fromHost('id_int', 'host_id_int'),
    fromHost('IP', 'ip'),
    fromHost('DNS', 'dns'),
    fromHost('OS', 'os'),
    fromHost('last_vm_scanned_at', 'host_last_vm_scanned_at'),
    ...(tenants ? [fromHost('tenant')] : []),
    fromDetection('UNIQUE_VULN_ID', 'unique_vuln_id'),
    fromDetection('QID', 'qid', 'integer-string'),
    fromDetection('TYPE', 'type'),
    fromDetection('SEVERITY', 'severity', 'integer-string'),
    fromDetection('PORT', 'port', 'integer-string'),
    fromDetection('PROTOCOL', 'protocol'),
    fromDetection('SSL', 'ssl'),
    fromDetection('STATUS', 'status'),
    fromDetection('FIRST_FOUND_DATETIME', 'first_found_at', 'iso-datetime'),
    fromDetection('LAST_FOUND_DATETIME', 'last_found_at', 'iso-datetime'),
    fromDetection('LAST_FIXED_DATETIME', 'last_fixed_at', 'iso-datetime'),
    fromDetection('LAST_PROCESSED_DATETIME', 'last_processed_at', 'iso-datetime'),
    fromDetection('TIMES_FOUND', 'times_found', 'integer-string'),
    fromDetection('IS_IGNORED', 'is_ignored'),
    fromDetection('IS_DISABLED', 'is_disabled'),
    fromDetection('RESULTS', 'results'),
    {
      name: 'detection_position',
      type: BIGINT,
      source: 'position of the detection in its host (1-based)',
      expr: () => 'qx_position',
    },
    fromKb('TITLE', 'kb_title'),
    fromKb('severity', 'kb_severity'),
    fromKb('VULN_TYPE', 'kb_vuln_type'),
    fromKb('CATEGORY', 'kb_category'),
    fromKb('PATCHABLE', 'kb_patchable'),
    fromKb('published_at', 'kb_published_at'),
    {
      name: 'kb_cves',
      type: VARCHARS,
      source: 'knowledgebase_latest.CVE_LIST.CVE[].ID',
      expr: (d) => d.transform(`k.${q('CVE_LIST')}.${q('CVE')}`, 'c', `c.${q('ID')}`),
    },
    score(`${q('CVSS')}.${q('BASE')}`, 'kb_cvss_base'),
    score(`${q('CVSS')}.${q('TEMPORAL')}`, 'kb_cvss_temporal'),
    score(`${q('CVSS_V3')}.${q('BASE')}`, 'kb_cvss3_base'),
    score(`${q('CVSS_V3')}.${q('TEMPORAL')}`, 'kb_cvss3_temporal'),
    fromHost(
      'run_ended_at',
      'host_run_ended_at',
      'vmdr_detections_latest.run_ended_at (the run the host row comes from)',
    ),
    fromKb('run_ended_at', 'kb_run_ended_at'),
  ];
  const sql = (dialect: Dialect) => {
    const d = DIALECTS[dialect];
    const u = d.unnestRows(
      `h.${q('DETECTION_LIST')}.${q('DETECTION')}`,
      'u',
      items.map((f) => f.name),
      'qx_position',
    );
    return [
      'SELECT',
      cols.map((c) => `  ${c.expr(d, u.field)} AS ${q(c.name)}`).join(',\n'),
      `FROM ${q(hosts.name)} AS h`,
      u.from,
      `LEFT JOIN ${q(kb.name)} AS k ON k.qid_int = ${d.parse('integer-string', u.field('QID'))}` +
        (tenants ? ' AND k."tenant" = h."tenant"' : ''),
    ].join('\n');
  };
  return {
    name: 'vmdr_detections_kb',
    module: 'vmdr-detections',
    table: hostSchema.table,
    select: 'joined',
    current: true,
    description:
      'One row per detection of the current state of each host (vmdr_detections_latest), joined to the current ' +
      'KnowledgeBase entry of its QID (knowledgebase_latest): title, severity, CVEs, CVSS; KB columns are null for a ' +
      'QID the KnowledgeBase export does not hold yet',
    columns: cols.map(({ name, type, source }) => ({ name, type, source })),
    sql,
  };
}

/**
 * Every view of a catalogue: the per-module views, then the views over views (the detections joined to the
 * KnowledgeBase), in an order in which each can be created.
 */
export function catalogViews(opts: { tenants?: boolean } = {}): ViewDef[] {
  return [...allViews(opts), detectionKbView(opts)];
}

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
