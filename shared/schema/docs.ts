/**
 * Documentation generated from the schemas: docs/data-dictionary.md in full, and the blocks of
 * docs/querying.md that must match the schemas (Spark schemas, Snowflake DDL, the Mobile detections UNNEST).
 * `npm run docs:gen` writes them; test/unit/docs.test.ts fails when they are out of date.
 */
import type { ModuleName } from '../config';
import { columnName, glueTable } from './glue';
import { MANIFEST_SCHEMA, MODULE_SCHEMAS } from './index';
import { dataFields, VALUE_FORMATS, type Field, type FieldType, type RecordSchema } from './model';
import { snowflakeType, sparkType } from './sql-types';
import { detectionKbView, mergeSpec, moduleViews, q } from './views';

const MODULE_LIST = Object.keys(MODULE_SCHEMAS) as ModuleName[];

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeLabel(t: FieldType): string {
  switch (t.kind) {
    case 'scalar':
      return t.scalar;
    case 'json':
      return 'any JSON (kept as text)';
    case 'array':
      return `array of ${typeLabel(t.items)}`;
    case 'map':
      return `map: string → ${typeLabel(t.values)}`;
    case 'struct':
      return 'object';
  }
}

/** One row per field path, depth-first, arrays shown as `[]`. */
function fieldRows(fields: Field[], prefix = ''): string[] {
  const rows: string[] = [];
  for (const f of fields) {
    if (f.partition) continue;
    const path = prefix ? `${prefix}.${f.name}` : f.name;
    let t = f.type;
    let shown = path;
    while (t.kind === 'array') {
      shown += '[]';
      t = t.items;
    }
    const notes = [
      f.format ? `format \`${f.format}\`` : '',
      f.typed ? `typed in views: \`${f.typed}\`` : '',
      f.nullable ? 'may be null' : '',
      f.evidence === 'sim' ? 'not in the Qualys doc samples (simulator / reference notes)' : '',
      f.examples?.length ? `e.g. ${f.examples.map((e) => `\`${JSON.stringify(e)}\``).join(', ')}` : '',
    ].filter(Boolean);
    rows.push(
      `| \`${cell(shown)}\` | ${cell(typeLabel(f.type))} | ${cell(f.description)} | ${cell(notes.join('; '))} |`,
    );
    if (t.kind === 'struct') rows.push(...fieldRows(t.fields, shown));
  }
  return rows;
}

function schemaSection(schema: RecordSchema, heading: string): string[] {
  return [
    heading,
    '',
    schema.description,
    '',
    `Schema \`schemas/${schema.module ?? 'manifest'}.schema.json\`, \`$id\` \`${schema.$id}\` (version ${schema.version}).`,
    '',
    '| field | type | meaning | notes |',
    '|---|---|---|---|',
    ...fieldRows(schema.fields),
    '',
  ];
}

export function dataDictionary(): string {
  const out: string[] = [
    '# Data dictionary',
    '',
    '<!-- Generated from schemas/*.schema.json by `npm run docs:gen`; do not edit by hand. -->',
    '',
    'Every field an exported record can carry, per module, with the Glue table and the views that read it.',
    "Records keep the API's field names and values exactly; the exporter adds one field, `qexport_run`, first on",
    'every line. Nested fields are shown as paths (`a.b`); `[]` marks an array (each element has the fields',
    'listed under it). Fields a new API version adds are still written, and counted as schema drift in the run',
    'manifest (`schemaDrift`).',
    '',
    'How to query: [querying.md](querying.md).',
    '',
  ];
  for (const module of MODULE_LIST) {
    const schema = MODULE_SCHEMAS[module];
    const glue = glueTable(schema);
    const views = moduleViews(module);
    out.push(...schemaSection(schema, `## ${module}: ${schema.title}`));
    out.push(
      `Glue table \`${schema.table}\` (every run, complete or not; partition \`dt\`), ${glue.columns.length} columns. ` +
        `Run kind: ${schema.runKind === 'mixed' ? "snapshot or incremental, per run (the manifest's `kind`)" : schema.runKind}. ` +
        `Record id: \`${schema.idField}\`.`,
      '',
    );
    for (const v of views) {
      const added = v.columns.filter((c) => !dataFields(schema).some((f) => columnName(f.name) === c.name));
      out.push(
        `View \`${v.name}\`: ${v.description}. Columns: every table column, plus:`,
        '',
        '| column | Athena type | from |',
        '|---|---|---|',
        ...added.map((c) => `| \`${c.name}\` | \`${cell(c.type.trino)}\` | ${cell(c.source)} |`),
        '',
      );
    }
  }
  const joined = detectionKbView();
  out.push(
    `## ${joined.name}: detections joined to the KnowledgeBase`,
    '',
    `View \`${joined.name}\`: ${joined.description}. Columns:`,
    '',
    '| column | Athena type | from |',
    '|---|---|---|',
    ...joined.columns.map((c) => `| \`${c.name}\` | \`${cell(c.type.trino)}\` | ${cell(c.source)} |`),
    '',
  );
  out.push(...schemaSection(MANIFEST_SCHEMA, '## Run manifests'));
  out.push(
    `Glue table \`${MANIFEST_SCHEMA.table}\` over \`<prefix>/manifests/module=<module>/dt=<dt>/<runId>.json\`, ` +
      'partitions `module` and `dt`. One row per complete run.',
    '',
    '## Value formats',
    '',
    '| format | example | typed as |',
    '|---|---|---|',
    ...Object.entries(VALUE_FORMATS).map(([k, v]) => `| \`${k}\` | \`${v.example}\` | ${v.typed} (UTC) |`),
    '',
  );
  return out.join('\n');
}

const tableSparkSchema = (schema: RecordSchema) =>
  dataFields(schema)
    .map((f) => `\`${f.name}\` ${sparkType(f.type, `${schema.table}.${f.name}`)}`)
    .join(', ');

/** PySpark: the DDL schema strings for spark.read.schema(...). */
export function sparkSchemas(): string {
  const lines = [
    '# Generated from schemas/*.schema.json (npm run docs:gen): field names exactly as in the files.',
  ];
  for (const module of MODULE_LIST) {
    const schema = MODULE_SCHEMAS[module];
    lines.push(`${schema.table.toUpperCase()} = "${tableSparkSchema(schema)}"`);
  }
  lines.push(`MANIFESTS = "${tableSparkSchema(MANIFEST_SCHEMA)}"`);
  return lines.join('\n');
}

/** Snowflake: external tables over the stage and views with exact-case columns, plus the complete-runs views. */
export function snowflakeSql(): string {
  const path = (name: string) => `value:${q(name)}`;
  const dtOf = `SPLIT_PART(SPLIT_PART(metadata$filename, 'dt=', 2), '/', 1)`;
  const lines: string[] = [
    '-- Generated from schemas/*.schema.json (npm run docs:gen). Column names are the JSON keys, quoted.',
    'CREATE OR REPLACE EXTERNAL TABLE qexport_manifests_ext',
    "  WITH LOCATION = @qexport_stage/manifests/ FILE_FORMAT = (TYPE = JSON) PATTERN = '.*[.]json' AUTO_REFRESH = FALSE;",
    'CREATE OR REPLACE VIEW "manifests" AS SELECT',
    ...dataFields(MANIFEST_SCHEMA).map((f) => `  ${path(f.name)}::${snowflakeType(f.type)} AS ${q(f.name)},`),
    `  SPLIT_PART(SPLIT_PART(metadata$filename, 'module=', 2), '/', 1) AS "module",`,
    `  ${dtOf} AS "dt"`,
    'FROM qexport_manifests_ext;',
  ];
  for (const module of MODULE_LIST) {
    const schema = MODULE_SCHEMAS[module];
    const t = schema.table;
    lines.push(
      '',
      `CREATE OR REPLACE EXTERNAL TABLE ${t}_ext`,
      `  WITH LOCATION = @qexport_stage/${module}/ FILE_FORMAT = (TYPE = JSON COMPRESSION = GZIP)`,
      "  PATTERN = '.*/part-[0-9]+[.]ndjson[.]gz' AUTO_REFRESH = FALSE;",
      `CREATE OR REPLACE VIEW ${q(t)} AS SELECT`,
      ...dataFields(schema).map(
        (f) => `  ${path(f.name)}::${snowflakeType(f.type)} AS ${q(columnName(f.name))},`,
      ),
      `  ${dtOf} AS "dt"`,
      `FROM ${t}_ext;`,
    );
    for (const v of moduleViews(module)) {
      if (v.current) {
        lines.push(...snowflakeCurrentView(v.name, module, schema));
        continue;
      }
      const latest = v.select === 'latest';
      lines.push(
        `CREATE OR REPLACE VIEW ${q(v.name)} AS SELECT r.* FROM ${q(t)} r JOIN (`,
        `  SELECT "runId", "dt" FROM "manifests" WHERE "module" = '${module}'${latest ? ` AND "kind" = 'snapshot'` : ''}` +
          (latest ? `\n  ORDER BY "endedAt" DESC, "runId" DESC LIMIT 1` : ''),
        `) m ON r."qexport_run" = m."runId" AND r."dt" = m."dt";`,
      );
    }
  }
  return lines.join('\n');
}

/** Snowflake: the current state of each record id since the latest snapshot, merged arrays included. */
function snowflakeCurrentView(name: string, module: string, schema: RecordSchema): string[] {
  const id = q(columnName(schema.idField!));
  const merge = mergeSpec(schema);
  const lines = [
    `CREATE OR REPLACE VIEW ${q(name)} AS`,
    'WITH qx_base AS (',
    `  SELECT "endedAt", "runId" FROM "manifests" WHERE "module" = '${module}' AND "kind" = 'snapshot'`,
    '  ORDER BY "endedAt" DESC, "runId" DESC LIMIT 1',
    '), qx_runs AS (',
    '  SELECT m."runId", m."dt", m."endedAt", m."kind" FROM "manifests" m, qx_base b',
    `  WHERE m."module" = '${module}'`,
    '    AND (m."endedAt" > b."endedAt" OR (m."endedAt" = b."endedAt" AND m."runId" >= b."runId"))',
    '), qx_versions AS (',
    '  SELECT r.*, s."kind" AS "run_kind",',
    `    ROW_NUMBER() OVER (PARTITION BY r.${id} ORDER BY s."endedAt" DESC, s."runId" DESC) AS qx_version`,
    `  FROM ${q(schema.table)} r JOIN qx_runs s ON r."qexport_run" = s."runId" AND r."dt" = s."dt"`,
  ];
  if (!merge) {
    return [...lines, ')', 'SELECT * EXCLUDE (qx_version) FROM qx_versions WHERE qx_version = 1;'];
  }
  const parent = q(columnName(merge.parent.name));
  return [
    ...lines,
    '), qx_merged AS (',
    '  SELECT qx_id, ARRAY_AGG(qx_element) WITHIN GROUP (ORDER BY qx_version, qx_position) AS qx_elements',
    `  FROM (SELECT v.${id} AS qx_id, v.qx_version, d.index AS qx_position, d.value AS qx_element,`,
    `      ROW_NUMBER() OVER (PARTITION BY v.${id}, d.value:${q(merge.key)} ORDER BY v.qx_version) AS qx_newest`,
    `    FROM qx_versions v, LATERAL FLATTEN(input => v.${parent}:${q(merge.array.name)}) d)`,
    '  WHERE qx_newest = 1 GROUP BY qx_id',
    ')',
    `SELECT v.* EXCLUDE (qx_version, ${parent}),`,
    `  IFF(g.qx_elements IS NULL, NULL, OBJECT_CONSTRUCT('${merge.array.name}', g.qx_elements)) AS ${parent}`,
    `FROM qx_versions v LEFT JOIN qx_merged g ON g.qx_id = v.${id} WHERE v.qx_version = 1;`,
  ];
}

/** The Mobile detections example: UNNEST of array(row) needs one alias per row field, in order. */
export function mobileDetectionsQuery(): string {
  const view = moduleViews('mobile-assets').find((v) => v.select === 'latest')!;
  const detections = view.columns.find((c) => c.name === 'detections')!;
  const fields = [...detections.type.trino.matchAll(/"([a-z_]+)" /g)].map((m) => m[1]);
  return [
    '-- Mobile detections of severity 4 and 5, current state of each asset (UNNEST names every field of the row)',
    `SELECT a."ID", a."ASSET_FRIENDLY_NAME", d.qid, d.severity, d.last_found_at`,
    `FROM ${view.name} a`,
    `CROSS JOIN UNNEST(a.detections) AS d(${fields.join(', ')})`,
    'WHERE d.severity >= 4;',
  ].join('\n');
}

/** Generated blocks of docs/querying.md, by marker name. */
export function queryingBlocks(): Record<string, string> {
  return {
    spark: ['```python', sparkSchemas(), '```'].join('\n'),
    snowflake: ['```sql', snowflakeSql(), '```'].join('\n'),
    'mobile-detections': ['```sql', mobileDetectionsQuery(), '```'].join('\n'),
  };
}

/** Replaces `<!-- generated:NAME -->…<!-- /generated:NAME -->` blocks; throws if a marker is missing. */
export function fillBlocks(markdown: string, blocks: Record<string, string>): string {
  let out = markdown;
  for (const [name, body] of Object.entries(blocks)) {
    const start = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const i = out.indexOf(start);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`missing markers ${start} … ${end}`);
    out = `${out.slice(0, i + start.length)}\n${body}\n${out.slice(j)}`;
  }
  return out;
}
