/**
 * The Glue catalogue in the synthesized template: table columns come from the schemas (checked against an
 * independent reading of schemas/*.schema.json, not the generator), the manifests table, and the Athena
 * views (Glue VIRTUAL_VIEW tables whose ViewOriginalText decodes to the generated Trino SQL and a column list
 * consistent with the tables they read).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildStack } from '../../infra/build';
import { MODULES, type ModuleName } from '../../shared/config';
import { MODULE_SCHEMAS } from '../../shared/schema';
import { ALL_VIEWS, catalogViews, decodePrestoView, type ViewDef } from '../../shared/schema/views';

// Synthesizing (and cdk-nag checking) whole stacks takes tens of seconds on a loaded 2-core machine.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 240_000 });

const ROOT = join(import.meta.dirname, '..', '..');
const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as {
  context: Record<string, unknown>;
};

type Json = Record<string, unknown>;
interface CfnColumn {
  Name: string;
  Type: string;
  Comment?: string;
}
interface TableInput {
  Name: string;
  TableType: string;
  Parameters: Record<string, string>;
  PartitionKeys: CfnColumn[];
  StorageDescriptor: { Columns: CfnColumn[]; Location?: unknown; SerdeInfo: Json };
  ViewOriginalText?: string;
  ViewExpandedText?: string;
}

let tables: Map<string, TableInput>;
let databaseName: string;

beforeAll(() => {
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  const template = Template.fromStack(buildStack(app).stack);
  tables = new Map(
    Object.values(template.findResources('AWS::Glue::Table')).map((r) => {
      const input = (r.Properties as { TableInput: TableInput }).TableInput;
      return [input.Name, input];
    }),
  );
  const dbs = Object.values(template.findResources('AWS::Glue::Database'));
  expect(dbs).toHaveLength(1);
  databaseName = (dbs[0]!.Properties as { DatabaseInput: { Name: string } }).DatabaseInput.Name;
});

/** Hive type of a JSON Schema node, written independently of shared/schema (the thing under test). */
function hiveOf(node: Json): string {
  if (node.type === undefined) return 'string'; // x-opaque: JSON text
  const t = (Array.isArray(node.type) ? node.type : [node.type]).find((x) => x !== 'null');
  if (t === 'string') return 'string';
  if (t === 'integer') return 'bigint';
  if (t === 'number') return 'double';
  if (t === 'boolean') return 'boolean';
  if (t === 'array') return `array<${hiveOf(node.items as Json)}>`;
  if (node.properties) {
    return `struct<${Object.entries(node.properties as Record<string, Json>)
      .map(([k, v]) => `${k}:${hiveOf(v)}`)
      .join(',')}>`;
  }
  return `map<string,${hiveOf(node.additionalProperties as Json)}>`;
}

function schemaColumns(file: string): { name: string; type: string }[] {
  const doc = JSON.parse(readFileSync(join(ROOT, 'schemas', file), 'utf8')) as {
    properties: Record<string, Json>;
  };
  return Object.entries(doc.properties)
    .filter(([, v]) => v['x-partition'] !== true)
    .map(([name, v]) => ({ name, type: hiveOf(v) }));
}

/** Hive → Trino type (row field names lowercased, as Athena analyses Glue columns). */
function trinoOf(hive: string): string {
  let i = 0;
  const parse = (): string => {
    const m = /^[a-z]+/.exec(hive.slice(i))!;
    i += m[0].length;
    const base = m[0];
    if (base === 'string') return 'varchar';
    if (base === 'timestamp') return 'timestamp(3)';
    if (base !== 'array' && base !== 'map' && base !== 'struct') return base;
    i++; // <
    const parts: string[] = [];
    for (;;) {
      if (base === 'struct') {
        const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(hive.slice(i))![0];
        i += name.length + 1; // name:
        parts.push(`"${name.toLowerCase()}" ${parse()}`);
      } else parts.push(parse());
      const c = hive[i++];
      if (c === '>') break;
    }
    if (base === 'array') return `array(${parts[0]})`;
    if (base === 'map') return `map(${parts[0]}, ${parts[1]})`;
    return `row(${parts.join(', ')})`;
  };
  const out = parse();
  expect(i).toBe(hive.length);
  return out;
}

describe('Glue tables: columns generated from the schemas', () => {
  it.each(MODULES)('%s: every schema field is a column with its full nested type', (module) => {
    const t = tables.get(MODULE_SCHEMAS[module].table)!;
    const expected = schemaColumns(`${module}.schema.json`);
    expect(t.StorageDescriptor.Columns.map((c) => ({ name: c.Name, type: c.Type }))).toEqual(expected);
    // Names are the JSON keys exactly (case kept for case-sensitive readers); OpenX matches them ignoring case.
    expect(t.StorageDescriptor.Columns[0]!.Name).toBe('qexport_run');
    expect(t.StorageDescriptor.SerdeInfo).toMatchObject({
      SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
      Parameters: { 'case.insensitive': 'true', 'ignore.malformed.json': 'false' },
    });
    expect(t.Parameters['qexport.schema']).toBe(MODULE_SCHEMAS[module].$id);
    expect(t.PartitionKeys).toEqual([{ Name: 'dt', Type: 'string' }]);
  });

  it('declares what the issue found missing (CertView SANs as a map, rootissuer, assets; EDR indicator2, processFile, asset interfaces and tags)', () => {
    const cols = (table: string) =>
      new Map(tables.get(table)!.StorageDescriptor.Columns.map((c) => [c.Name, c.Type]));
    const cert = cols('certview_certificates');
    expect(cert.get('subjectAlternativeNames')).toBe('map<string,array<string>>');
    expect(cert.get('rootissuer')).toMatch(/^struct<organization:string,/);
    expect(cert.get('assets')).toContain(
      'hostInstances:array<struct<protocol:string,sslProtocols:array<string>',
    );
    const edr = cols('edr_events');
    expect(edr.get('indicator2')).toBe(
      'array<struct<score:string,sha256:string,verdict:string,rowId:string>>',
    );
    expect(edr.get('process')).toContain(
      'processFile:struct<fullPath:string,path:string,sha256:string,size:bigint',
    );
    expect(edr.get('asset')).toContain('interfaces:array<struct<macAddress:string');
    expect(edr.get('asset')).toContain('tags:array<struct<name:string,uuid:string>>');
  });

  it('comments stay within the Glue limit of 255 characters', () => {
    for (const t of tables.values()) {
      for (const c of t.StorageDescriptor.Columns) expect((c.Comment ?? '').length).toBeLessThanOrEqual(255);
    }
  });
});

describe('manifests table', () => {
  it('reads <prefix>/manifests/module=<module>/dt=<dt>/ with projection on module and dt', () => {
    const t = tables.get('manifests')!;
    expect(t.TableType).toBe('EXTERNAL_TABLE');
    expect(t.PartitionKeys).toEqual([
      { Name: 'module', Type: 'string' },
      { Name: 'dt', Type: 'string' },
    ]);
    expect(t.Parameters).toMatchObject({
      'projection.enabled': 'true',
      'projection.module.type': 'enum',
      'projection.module.values': MODULES.join(','),
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
    });
    expect(JSON.stringify(t.Parameters['storage.location.template'])).toContain(
      '/qualys/manifests/module=${module}/dt=${dt}/',
    );
    expect(t.Parameters.compressionType).toBeUndefined();
    expect(t.StorageDescriptor.Columns.map((c) => ({ name: c.Name, type: c.Type }))).toEqual(
      schemaColumns('manifest.schema.json'),
    );
  });
});

describe('views: Glue VIRTUAL_VIEW tables in the format Athena writes for CREATE VIEW', () => {
  it('creates <table>_latest for each snapshot or mixed module, <table>_complete for every module, and the detections joined to the KB', () => {
    const views = [...tables.values()].filter((t) => t.TableType === 'VIRTUAL_VIEW').map((t) => t.Name);
    expect(views.sort()).toEqual(
      [
        'pci_scans_latest',
        'pci_scans_complete',
        'certview_certificates_latest',
        'certview_certificates_complete',
        'edr_events_complete',
        'mobile_assets_latest',
        'mobile_assets_complete',
        'vmdr_detections_latest',
        'vmdr_detections_complete',
        'knowledgebase_latest',
        'knowledgebase_complete',
        'vmdr_detections_kb',
      ].sort(),
    );
  });

  it.each(catalogViews().map((v) => [v.name, v] as [string, ViewDef]))('%s', (name, view) => {
    const t = tables.get(name)!;
    expect(t.Parameters).toEqual({ presto_view: 'true', comment: 'Presto View' });
    expect(t.ViewExpandedText).toBe('/* Presto View */');
    expect(t.PartitionKeys).toEqual([]);
    expect(t.ViewOriginalText).toMatch(/^\/\* Presto View: [A-Za-z0-9+/]+=*\s\*\/$/);
    const def = decodePrestoView(t.ViewOriginalText!);
    expect(Object.keys(def).sort()).toEqual(['catalog', 'columns', 'originalSql', 'schema']);
    expect(def.catalog).toBe('awsdatacatalog');
    expect(def.schema).toBe(databaseName);
    expect(def.originalSql).toBe(view.sql('athena'));

    // The stored column list: lowercase unique names, the same as the Glue columns, Trino types that match them.
    const names = def.columns.map((c) => c.name);
    expect(names.every((n) => n === n.toLowerCase())).toBe(true);
    expect(new Set(names).size).toBe(names.length);
    expect(t.StorageDescriptor.Columns.map((c) => c.Name)).toEqual(names);
    t.StorageDescriptor.Columns.forEach((c, i) => expect(trinoOf(c.Type)).toBe(def.columns[i]!.type));

    if (view.select === 'joined') {
      // A view over the two current-state views, both of this database.
      const read = [...def.originalSql.matchAll(/(?:FROM|JOIN) "([a-z_]+)"/g)].map((m) => m[1]);
      expect(read.sort()).toEqual(['knowledgebase_latest', 'vmdr_detections_latest']);
      for (const r of read) expect(tables.get(r!)?.TableType).toBe('VIRTUAL_VIEW');
      return;
    }
    // Raw columns keep the base table's types; the view adds dt, typed columns and the run's times.
    const base = tables.get(view.table)!;
    for (const c of base.StorageDescriptor.Columns) {
      const i = names.indexOf(c.Name.toLowerCase());
      expect(i, c.Name).toBeGreaterThanOrEqual(0);
      expect(def.columns[i]!.type).toBe(trinoOf(c.Type));
    }
    expect(names).toEqual(expect.arrayContaining(['dt', 'run_started_at', 'run_ended_at']));

    // The SQL reads only tables of this database, unqualified (Athena resolves them in the view's schema).
    const referenced = [...def.originalSql.matchAll(/FROM "([a-z_]+)"/g)].map((m) => m[1]);
    expect(referenced.sort()).toEqual(['manifests', view.table].sort());
    for (const r of referenced) expect(tables.get(r!)?.TableType).toBe('EXTERNAL_TABLE');
  });

  it('Athena and DuckDB run the same view logic: only the dialect functions differ', () => {
    for (const view of ALL_VIEWS) {
      const skeleton = (sql: string) =>
        sql
          .split('\n')
          .map((l) => l.trim())
          .filter((l) => /^(FROM|JOIN|WHERE|ORDER BY|LIMIT|\) AS m ON|SELECT$)/.test(l))
          // UNNEST names every row field in Trino and one struct in DuckDB: the rest of the line is the same.
          .map((l) => l.replace(/UNNEST\(.*$/, 'UNNEST(…)'));
      expect(skeleton(view.sql('duckdb'))).toEqual(skeleton(view.sql('athena')));
      const aliases = (sql: string) =>
        [...sql.matchAll(/^ {2}(?! ).* AS ("[A-Za-z0-9_]+"),?$/gm)].map((m) => m[1]);
      expect(aliases(view.sql('duckdb'))).toEqual(aliases(view.sql('athena')));
      expect(aliases(view.sql('athena'))).toHaveLength(view.columns.length);
    }
  });

  it('the latest views pick snapshot runs by end time; the complete views take every complete run', () => {
    for (const view of ALL_VIEWS) {
      const sql = view.sql('athena');
      const module: ModuleName = view.module;
      expect(sql).toContain(`WHERE "module" = '${module}'`);
      if (view.current) {
        // Mixed modules: the newest version of each id among the runs since the latest snapshot (by end time).
        expect(sql).toMatch(
          /WHERE run_kind = 'snapshot'\s+ORDER BY run_end_text DESC, run_id DESC\s+LIMIT 1/,
        );
        expect(sql).toContain('ON r."qexport_run" = s.run_id AND r."dt" = s.run_dt');
        expect(sql).toContain(
          `PARTITION BY r."${MODULE_SCHEMAS[module].idField}" ORDER BY s.run_end_text DESC`,
        );
        expect(sql).toContain('WHERE v.qx_version = 1');
        continue;
      }
      expect(sql).toContain('ON r."qexport_run" = m.run_id AND r."dt" = m.run_dt');
      if (view.select === 'latest') {
        expect(sql).toContain(`AND "kind" = 'snapshot'`);
        expect(sql).toMatch(/ORDER BY "endedAt" DESC, "runId" DESC\s+LIMIT 1/);
      } else expect(sql).not.toContain('LIMIT');
    }
  });
});
