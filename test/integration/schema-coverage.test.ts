/**
 * The schemas describe exactly what the exporter writes: per module, the field paths the schema declares and
 * the field paths seen in files the engine exported from the simulator must be equal — nothing
 * undeclared, nothing declared that never appears.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULES, type ModuleName } from '../../shared/config';
import { fieldPaths, MANIFEST_SCHEMA, MODULE_SCHEMAS, type FieldType } from '../../shared/schema';
import { RUN_FIELD } from '../../shared/sink/part-writer';
import { driftChecker } from '../../shared/schema/drift';
import { engineScenario, type Scenario } from '../support/contract-scenario';
import { catalogueManifests, storedRecords } from '../support/export-files';

let scenario: Scenario;
const data = {} as Record<ModuleName, Record<string, unknown>[]>;
const report: { module: string; inSchema: number; seen: number; records: number }[] = [];

beforeAll(async () => {
  scenario = await engineScenario();
  for (const m of MODULES) data[m] = await storedRecords(scenario.root, m);
}, 120_000);

afterAll(() => {
  if (report.length) {
    console.log(
      'schema fields vs fields seen in exported files (real exports: the engine against the simulator):',
    );
    console.table(report);
  }
});

/** Paths where the schema declares a map or opaque JSON: there the keys are data, not fields. */
function mapPaths(module: ModuleName): Set<string> {
  const out = new Set<string>();
  const walk = (t: FieldType, path: string) => {
    if (t.kind === 'map' || t.kind === 'json') out.add(path);
    if (t.kind === 'struct') for (const f of t.fields) walk(f.type, path ? `${path}.${f.name}` : f.name);
    if (t.kind === 'array') walk(t.items, path);
  };
  walk({ kind: 'struct', fields: MODULE_SCHEMAS[module].fields }, '');
  return out;
}

/** Field paths present in the data (arrays transparent, as in fieldPaths). */
function seenPaths(records: Record<string, unknown>[], maps: Set<string>): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown, path: string) => {
    if (Array.isArray(v)) for (const x of v) walk(x, path);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (maps.has(path)) {
          walk(x, path);
          continue;
        }
        const p = path ? `${path}.${k}` : k;
        out.add(p);
        walk(x, p);
      }
    }
  };
  for (const r of records) walk(r, '');
  return out;
}

describe('schema coverage', () => {
  it.each(MODULES)('%s: fields in the schema = fields seen in the exported data', (module) => {
    const records = data[module];
    expect(records.length).toBeGreaterThan(0);
    const declared = new Set(fieldPaths(MODULE_SCHEMAS[module]));
    const seen = seenPaths(records, mapPaths(module));
    report.push({ module, inSchema: declared.size, seen: seen.size, records: records.length });
    expect({ undeclared: [...seen].filter((p) => !declared.has(p)) }).toEqual({ undeclared: [] });
    expect({ neverSeen: [...declared].filter((p) => !seen.has(p)) }).toEqual({ neverSeen: [] });
  });

  it.each(MODULES)('%s: every line starts with the run field the schema declares first', (module) => {
    expect(MODULE_SCHEMAS[module].fields[0]!.name).toBe(RUN_FIELD);
    for (const r of data[module]) expect(Object.keys(r)[0]).toBe(RUN_FIELD);
  });

  it('catalogue manifests carry only fields the manifest schema declares', async () => {
    const manifests = await catalogueManifests(scenario.root);
    expect(manifests.length).toBeGreaterThan(0);
    const declared = new Set([...fieldPaths(MANIFEST_SCHEMA), ...MANIFEST_SCHEMA.fields.map((f) => f.name)]);
    const seen = seenPaths(manifests, new Set(['range']));
    expect([...seen].filter((p) => !declared.has(p))).toEqual([]);
    // Declared but optional: backfill (backfill runs only) and schemaDrift (when the engine counts drift).
    expect([...declared].filter((p) => !seen.has(p) && !/^(backfill|schemaDrift)(\.|$)/.test(p))).toEqual([]);
  });

  it.each(MODULES)('%s: the drift checker finds no drift in the exported data', (module) => {
    const check = driftChecker(module);
    const drifting = data[module].map(check).filter(Boolean);
    expect(drifting).toEqual([]);
  });
});
