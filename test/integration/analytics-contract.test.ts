/**
 * The analytics contract, proven with a real SQL engine: DuckDB reads the exported gzip NDJSON and the
 * catalogue manifests through the columns the Glue tables declare and runs the view SQL the stack deploys
 * (both generated from the schemas). The export history holds complete runs, an interrupted run beside a
 * complete one, and a run read again in fewer parts; the views must return exactly the manifests' records. Mobile's history
 * mixes snapshots and increments: its latest view is the current state of each asset, checked against a plain-JS
 * reading of the runs and against a full listing of the simulator.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODULES, type ModuleName } from '../../shared/config';
import type { Manifest } from '../../shared/export/types';
import { MODULE_SCHEMAS, type Field, type ValueFormat } from '../../shared/schema';
import { columnName } from '../../shared/schema/glue';
import {
  ALL_VIEWS,
  detectionKbView,
  mergeSpec,
  moduleViews,
  q,
  type ViewDef,
} from '../../shared/schema/views';
import {
  engineScenario,
  finalRuns,
  KB_CHANGES,
  MOBILE_CHANGES,
  SIM_COUNTS,
  VMDR_CHANGES,
  type ExportRecord,
  type Scenario,
  type WrittenRun,
} from '../support/contract-scenario';
import { openDuck, type Duck } from '../support/duckdb';
import { mobileAssetId } from '../sim/data';
import { kbQid } from '../sim/vmdr';

let scenario: Scenario;
let duck: Duck;
const report: { view: string; returned: number; manifests: number; runs: string }[] = [];

beforeAll(async () => {
  scenario = await engineScenario();
  duck = await openDuck(scenario.root);
}, 120_000);

afterAll(() => {
  duck?.close();
  if (report.length) {
    console.log('views vs manifests (real exports: the engine against the simulator):');
    console.table(report);
  }
});

const runsOf = (module: ModuleName) => finalRuns(scenario).filter((r) => r.module === module);
const completeRuns = (module: ModuleName) => runsOf(module).filter((r) => r.complete);
const idOf = (module: ModuleName) => columnName(MODULE_SCHEMAS[module].idField!);

/** The run a `_latest` view must show: the complete snapshot run that ended last. */
function latestRun(module: ModuleName): WrittenRun {
  const sorted = completeRuns(module)
    .filter((r) => r.manifest!.kind === 'snapshot')
    .sort((a, b) => b.manifest!.endedAt.localeCompare(a.manifest!.endedAt) || b.runId.localeCompare(a.runId));
  return sorted[0]!;
}

function expectedRuns(view: ViewDef): WrittenRun[] {
  return view.select === 'latest' ? [latestRun(view.module)] : completeRuns(view.module);
}

interface Row {
  run: WrittenRun;
  record: ExportRecord;
}

const byEnd = (a: WrittenRun, b: WrittenRun) =>
  a.manifest!.endedAt.localeCompare(b.manifest!.endedAt) || a.runId.localeCompare(b.runId);

/** The complete runs since (and including) the latest complete snapshot, oldest first. */
function runsSinceSnapshot(module: ModuleName): WrittenRun[] {
  const runs = completeRuns(module).sort(byEnd);
  const base = runs.map((r) => r.manifest!.kind).lastIndexOf('snapshot');
  return runs.slice(base);
}

type Detections = { DETECTION?: ExportRecord[] } | undefined;

/**
 * The current state of each record, in plain JS: its newest version since the latest snapshot, with the
 * x-merge-key array (Mobile detections) merged per key, newest version first, then position.
 */
function currentState(module: ModuleName): Row[] {
  const schema = MODULE_SCHEMAS[module];
  const merge = mergeSpec(schema);
  const versions = new Map<string, Row[]>();
  for (const run of runsSinceSnapshot(module).reverse()) {
    for (const record of run.records) {
      const id = String(record[schema.idField!]);
      versions.set(id, [...(versions.get(id) ?? []), { run, record }]);
    }
  }
  return [...versions.values()].map((vs) => {
    if (!merge) return { run: vs[0]!.run, record: vs[0]!.record };
    const seen = new Set<unknown>();
    const merged: ExportRecord[] = [];
    for (const v of vs) {
      for (const d of (v.record.DETECTION_LIST as Detections)?.DETECTION ?? []) {
        if (!seen.has(d.QID)) merged.push(d);
        seen.add(d.QID);
      }
    }
    const record: ExportRecord = { ...vs[0]!.record };
    if (merged.length) record.DETECTION_LIST = { DETECTION: merged };
    else delete record.DETECTION_LIST;
    return { run: vs[0]!.run, record };
  });
}

/** What a view must return: one row per record of its runs, or per record id for a current-state view. */
function expectedRows(view: ViewDef): Row[] {
  if (view.current) return currentState(view.module);
  return expectedRuns(view).flatMap((run) => run.records.map((record) => ({ run, record })));
}

const rowRuns = (rows: Row[]) => [...new Map(rows.map((r) => [r.run.runId, r.run])).values()];

/** JSON with null members dropped (a missing key and a null read back the same through a typed column). */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== null && x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v;
}

const views = ALL_VIEWS.map((v) => [v.name, v] as [string, ViewDef]);

describe('complete runs only, by construction', () => {
  it('the scenario has what must be excluded: interrupted runs and a run written twice under one id', () => {
    const writes = scenario.writes;
    expect(writes.some((w) => !w.complete)).toBe(true);
    const ids = writes.map((w) => `${w.module}|${w.runId}`);
    expect(new Set(ids).size).toBeLessThan(ids.length);
  });

  it('a run read again in fewer parts left exactly the parts its manifest lists', async () => {
    const byRun = new Map<string, WrittenRun[]>();
    for (const w of scenario.writes) {
      const k = `${w.module}|${w.runId}`;
      byRun.set(k, [...(byRun.get(k) ?? []), w]);
    }
    const reruns = [...byRun.values()].filter((ws) => ws.length > 1 && ws.at(-1)!.manifest?.rereads);
    expect(reruns.length).toBeGreaterThan(0);
    for (const ws of reruns) {
      const [first, last] = [ws[0]!, ws[ws.length - 1]!];
      expect(first.records.length).toBeGreaterThan(0);
      expect(first.parts).toBeGreaterThan(last.manifest!.parts.length);
      const dir = `${last.module}/dt=${last.dt}/run=${last.runId}`;
      const onDisk = (await readdir(join(scenario.root, dir))).filter((f) => f.startsWith('part-'));
      expect(onDisk.map((f) => `${dir}/${f}`).sort()).toEqual(
        last.manifest!.parts.map((p) => p.key.slice(p.key.indexOf(`${last.module}/`))).sort(),
      );
    }
  });

  it.each(views)(
    '%s returns exactly the records its manifests count, from complete runs only',
    async (name, view) => {
      const got = await duck.rows<{ run: string; n: number }>(
        `SELECT qexport_run AS run, count(*)::INTEGER AS n FROM ${q(name)} GROUP BY 1 ORDER BY 1`,
      );
      const rows = expectedRows(view);
      const want = rowRuns(rows)
        .map((r) => ({ run: r.runId, n: rows.filter((x) => x.run === r).length }))
        .sort((a, b) => a.run.localeCompare(b.run));
      expect(got).toEqual(want);
      // The parts hold exactly what the manifests say, and (but for a current-state view) the view all of it.
      for (const r of expectedRuns(view)) {
        expect(r.manifest!.parts.reduce((n, p) => n + p.records, 0)).toBe(r.manifest!.totals.records);
        if (!view.current) expect(r.records).toHaveLength(r.manifest!.totals.records);
      }
      const incomplete = runsOf(view.module)
        .filter((r) => !r.complete)
        .map((r) => r.runId);
      expect(got.map((g) => g.run).filter((r) => incomplete.includes(r))).toEqual([]);
      report.push({
        view: name,
        returned: got.reduce((n, g) => n + g.n, 0),
        manifests: want.reduce((n, w) => n + w.n, 0),
        runs: got.map((g) => `${g.run}:${g.n}`).join(' '),
      });
    },
  );

  it.each(views)('%s has no duplicates', async (name, view) => {
    const id = q(idOf(view.module));
    const [row] = await duck.rows<{ n: number; distinct_n: number }>(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT (qexport_run, ${id}))::INTEGER AS distinct_n FROM ${q(name)}`,
    );
    expect(row!.n).toBeGreaterThan(0);
    expect(row!.distinct_n).toBe(row!.n);
    if (view.select === 'latest') {
      const [one] = await duck.rows<{ n: number }>(
        `SELECT count(DISTINCT ${id})::INTEGER AS n FROM ${q(name)}`,
      );
      expect(one!.n).toBe(row!.n);
    }
  });

  it.each(MODULES)(
    '%s: the base table still holds every run (the views do the filtering)',
    async (module) => {
      const table = MODULE_SCHEMAS[module].table;
      const [row] = await duck.rows<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM ${q(table)}`);
      expect(row!.n).toBe(runsOf(module).reduce((n, r) => n + r.records.length, 0));
    },
  );

  it('the query docs/deploy.md used to document ("today\'s last run" by max run id) picks the interrupted run', async () => {
    const day = latestRun('pci-scans').dt;
    const root = scenario.root.replace(/'/g, "''");
    const [old] = await duck.rows<{ run: string }>(
      `SELECT max(run) AS run FROM read_json('${root}/pci-scans/dt=*/run=*/part-*.ndjson.gz', ` +
        `hive_partitioning = true, hive_types = {'dt': 'VARCHAR', 'run': 'VARCHAR'}) WHERE dt = '${day}'`,
    );
    const interrupted = runsOf('pci-scans').find((r) => !r.complete && r.dt === day);
    expect(interrupted).toBeDefined();
    expect(old!.run).toBe(interrupted!.runId);
    const [now] = await duck.rows<{ run: string }>(
      `SELECT DISTINCT qexport_run AS run FROM pci_scans_latest`,
    );
    expect(now!.run).toBe(latestRun('pci-scans').runId);
  });
});

describe('every schema field is readable with its declared type', () => {
  it.each(views)('%s: the raw columns give back the stored records exactly', async (name, view) => {
    const schema = MODULE_SCHEMAS[view.module];
    const cols = schema.fields.map((f) => `${q(f.name)} := ${q(columnName(f.name))}`).join(', ');
    const got = await duck.rows<{ j: string }>(
      `SELECT to_json(struct_pack(${cols}))::VARCHAR AS j FROM ${q(name)}`,
    );
    const stored = expectedRows(view).map((r) => r.record);
    const key = (v: unknown) => JSON.stringify(normalize(v));
    expect(got.map((g) => key(JSON.parse(g.j))).sort()).toEqual(stored.map(key).sort());
  });

  it.each(views)('%s: column types are the schema-declared ones', async (name, view) => {
    // DuckDB quotes only names that need it (reserved words); the declared types quote every field name.
    const norm = (t: string) => t.replace(/"/g, '').replace(/\s+/g, ' ');
    const described = await duck.rows<{ column_name: string; column_type: string }>(`DESCRIBE ${q(name)}`);
    expect(described.map((d) => d.column_name)).toEqual(view.columns.map((c) => c.name));
    const types = Object.fromEntries(described.map((d) => [d.column_name, norm(d.column_type)]));
    for (const c of view.columns) expect(types[c.name], c.name).toBe(norm(c.type.duckdb));
  });
});

/** A typed value as DuckDB's to_json prints it: timestamps 'YYYY-MM-DD HH:MM:SS[.fff]' (UTC), integers. */
function jsTyped(format: ValueFormat | undefined, raw: unknown): unknown {
  if (raw === undefined || raw === null) return null;
  const ts = (ms: number) => {
    if (Number.isNaN(ms)) return null;
    const iso = new Date(ms).toISOString();
    const frac = iso.slice(20, 23).replace(/0+$/, '');
    return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac ? `.${frac}` : ''}`;
  };
  switch (format) {
    case undefined:
      return raw;
    case 'integer-string':
      return /^-?\d+$/.test(String(raw)) ? Number(raw) : null;
    case 'epoch-ms':
      return ts(Number(raw));
    case 'edr-datetime':
      return ts(Date.parse(String(raw).replace(/([+-]\d\d)(\d\d)$/, '$1:$2')));
    case 'mobile-datetime':
      return ts(Date.parse(`${String(raw).replace(' ', 'T')}Z`));
    case 'iso-datetime':
      return ts(Date.parse(String(raw)));
    case 'pci-datetime': {
      const m = /^(\w+) (\d{1,2}), (\d{4}) at (\d\d):(\d\d) (AM|PM) GMT$/.exec(String(raw));
      if (!m) return null;
      const month = new Date(`${m[1]} 1, 2000 UTC`).getUTCMonth();
      const h = (Number(m[4]) % 12) + (m[6] === 'PM' ? 12 : 0);
      return ts(Date.UTC(Number(m[3]), month, Number(m[2]), h, Number(m[5])));
    }
  }
}

/** What the typed columns must hold for one stored record, derived from the schema in plain JS. */
function expectedTyped(fields: Field[], record: ExportRecord, out: Record<string, unknown> = {}) {
  for (const f of fields) {
    const v = record[f.name];
    if (f.type.kind === 'struct') {
      if (v && typeof v === 'object') expectedTyped(f.type.fields, v as ExportRecord, out);
      else for (const name of typedNames(f.type.fields)) out[name] = null;
    } else if (f.typed && f.type.kind === 'array' && f.type.items.kind === 'struct') {
      const items = f.type.items.fields.filter((x) => x.typed);
      out[f.typed] = Array.isArray(v)
        ? v.map((item: ExportRecord) =>
            Object.fromEntries(items.map((x) => [x.typed!, jsTyped(x.format, item[x.name])])),
          )
        : null;
    } else if (f.typed) out[f.typed] = jsTyped(f.format, v);
  }
  return out;
}

function typedNames(fields: Field[]): string[] {
  return fields.flatMap((f) =>
    f.type.kind === 'struct' ? typedNames(f.type.fields) : f.typed ? [f.typed] : [],
  );
}

describe('typed columns in the views', () => {
  it.each(views)('%s: timestamps and integers parsed from every format', async (name, view) => {
    const schema = MODULE_SCHEMAS[view.module];
    const names = typedNames(schema.fields);
    expect(names.length).toBeGreaterThan(0);
    const id = columnName(schema.idField!);
    const got = await duck.rows<{ j: string }>(
      `SELECT to_json(struct_pack(${[id, 'qexport_run', ...names].map((n) => `${q(n)} := ${q(n)}`).join(', ')}))::VARCHAR AS j FROM ${q(name)}`,
    );
    const want = expectedRows(view).map(({ run, record: rec }) => ({
      [id]: rec[schema.idField!],
      qexport_run: run.runId,
      ...expectedTyped(schema.fields, rec),
    }));
    const key = (v: unknown) => JSON.stringify(normalize(v));
    expect(got.map((g) => key(JSON.parse(g.j))).sort()).toEqual(want.map(key).sort());
    // Not vacuous: every typed column has values.
    for (const n of names) {
      const [row] = await duck.rows<{ n: number }>(`SELECT count(${q(n)})::INTEGER AS n FROM ${q(name)}`);
      expect(row!.n, n).toBeGreaterThan(0);
    }
  });

  it.each(views)('%s: every row carries its run start and end from the manifest', async (name, view) => {
    const got = await duck.rows<{ run: string; started: string; ended: string }>(
      `SELECT DISTINCT qexport_run AS run, strftime(run_started_at, '%Y-%m-%dT%H:%M:%S.%g') AS started, ` +
        `strftime(run_ended_at, '%Y-%m-%dT%H:%M:%S.%g') AS ended FROM ${q(name)} ORDER BY 1`,
    );
    expect(got).toEqual(
      rowRuns(expectedRows(view))
        .map((r) => ({
          run: r.runId,
          started: r.manifest!.startedAt.slice(0, 23),
          ended: r.manifest!.endedAt.slice(0, 23),
        }))
        .sort((a, b) => a.run.localeCompare(b.run)),
    );
  });

  it('edr_events_complete carries each window from the manifest range', async () => {
    const [view] = moduleViews('edr-events');
    const got = await duck.rows<{ run: string; f: string; t: string }>(
      `SELECT DISTINCT qexport_run AS run, strftime(window_from, '%Y-%m-%dT%H:%M:%S.%g') AS f, ` +
        `strftime(window_to, '%Y-%m-%dT%H:%M:%S.%g') AS t FROM ${q(view!.name)} ORDER BY 1`,
    );
    expect(got).toEqual(
      completeRuns('edr-events')
        .map((r) => {
          const range = r.manifest!.range as { from: string; to: string };
          return { run: r.runId, f: range.from.slice(0, 23), t: range.to.slice(0, 23) };
        })
        .sort((a, b) => a.run.localeCompare(b.run)),
    );
  });
});

describe('mobile_assets_latest: the current state over snapshots and increments', () => {
  const VIEW = 'mobile_assets_latest';
  const mobileId = (i: number) => String(mobileAssetId(i));
  const changed = (...k: number[]) => new Set(k.flatMap((i) => MOBILE_CHANGES[i]!.indexes.map(mobileId)));

  it('the history holds what the view must handle', () => {
    const runs = completeRuns('mobile-assets').sort(byEnd);
    expect(runs.map((r) => r.manifest!.kind)).toEqual([
      'snapshot',
      'incremental',
      'snapshot',
      'incremental',
      'incremental',
    ]);
    // An increment interrupted and resumed to completion, and one interrupted for good (parts, no manifest).
    expect(runs[3]!.manifest!.invocations).toBe(2);
    const unfinished = runsOf('mobile-assets').filter((r) => !r.complete);
    expect(unfinished).toHaveLength(1);
    expect(unfinished[0]!.records.length).toBeGreaterThan(0);
    // Each increment holds exactly the assets changed in its window (the overlap reaches no earlier change).
    expect(new Set(runs[1]!.records.map((r) => r.ID))).toEqual(changed(0));
    expect(new Set(runs[3]!.records.map((r) => r.ID))).toEqual(changed(1));
    expect(new Set(runs[4]!.records.map((r) => r.ID))).toEqual(changed(2));
  });

  it('one row per asset, each from the newest complete run holding it since the latest snapshot: exact counts', async () => {
    const [all] = await duck.rows<{ n: number; ids: number }>(
      `SELECT count(*)::INTEGER AS n, count(DISTINCT "ID")::INTEGER AS ids FROM ${VIEW}`,
    );
    expect(all).toEqual({ n: SIM_COUNTS.mobile, ids: SIM_COUNTS.mobile });
    const runs = completeRuns('mobile-assets').sort(byEnd);
    const [, increment0, snapshot, increment1, increment2] = runs;
    const fromI2 = changed(2);
    const fromI1 = new Set([...changed(1)].filter((id) => !fromI2.has(id)));
    const got = await duck.rows<{ run: string; kind: string; n: number }>(
      `SELECT qexport_run AS run, run_kind AS kind, count(*)::INTEGER AS n FROM ${VIEW} GROUP BY 1, 2 ORDER BY 1`,
    );
    expect(got).toEqual(
      [
        { run: snapshot!.runId, kind: 'snapshot', n: SIM_COUNTS.mobile - fromI1.size - fromI2.size },
        { run: increment1!.runId, kind: 'incremental', n: fromI1.size },
        { run: increment2!.runId, kind: 'incremental', n: fromI2.size },
      ].sort((a, b) => a.run.localeCompare(b.run)),
    );
    expect(fromI1.size).toBe(12);
    expect(fromI2.size).toBe(5);
    // Nothing from before the latest snapshot, nothing from the unfinished increment.
    const excluded = [
      increment0!.runId,
      ...runsOf('mobile-assets')
        .filter((r) => !r.complete)
        .map((r) => r.runId),
    ];
    expect(got.map((g) => g.run).filter((r) => excluded.includes(r))).toEqual([]);
    const ids = await duck.rows<{ id: string; run: string }>(
      `SELECT "ID" AS id, qexport_run AS run FROM ${VIEW} WHERE "ID" IN (${[...fromI2].map((i) => `'${i}'`).join(', ')})`,
    );
    expect(ids.every((r) => r.run === increment2!.runId)).toBe(true);
  });

  it('equals a full listing of the simulator taken after the last complete increment (detections merged)', async () => {
    const schema = MODULE_SCHEMAS['mobile-assets'];
    const fields = schema.fields.filter((f) => f.name !== 'qexport_run');
    const cols = fields.map((f) => `${q(f.name)} := ${q(columnName(f.name))}`).join(', ');
    const got = await duck.rows<{ j: string }>(
      `SELECT to_json(struct_pack(${cols}))::VARCHAR AS j FROM ${VIEW} ORDER BY "ID"::BIGINT`,
    );
    // Merged detections come newest first; the listing's own order among them is not knowable from increments.
    const byQid = (r: ExportRecord) => {
      const list = (r.DETECTION_LIST as Detections)?.DETECTION;
      if (!list) return r;
      const sorted = [...list].sort((a, b) => String(a.QID).localeCompare(String(b.QID)));
      return { ...r, DETECTION_LIST: { DETECTION: sorted } };
    };
    const key = (r: ExportRecord) => JSON.stringify(normalize(byQid(r)));
    const truth = scenario.mobileTruth.map(key);
    expect(got.map((g) => key(JSON.parse(g.j) as ExportRecord))).toEqual(truth);
    // Not vacuous: assets changed in both increments carry both changes, each from its own increment.
    const both = [...changed(1)].filter((id) => changed(2).has(id));
    expect(both.length).toBe(2);
    for (const id of both) {
      const [row] = await duck.rows<{ j: string }>(
        `SELECT to_json(detections)::VARCHAR AS j FROM ${VIEW} WHERE "ID" = '${id}'`,
      );
      const updates = (JSON.parse(row!.j) as { last_update_at: string }[]).map((d) => d.last_update_at);
      expect(updates).toEqual(expect.arrayContaining(['2026-03-01 05:00:00', '2026-03-01 11:00:00']));
    }
  });

  it('the increments themselves hold only the changed detections (why the view merges)', () => {
    const [, , , increment1] = completeRuns('mobile-assets').sort(byEnd);
    const window = increment1!.manifest!.range as Manifest['range'];
    // The snapshot at 03:00 stood for 02:59 (the 60 s indexing lag), minus the 30-minute overlap.
    expect(window.detectionUpdatedSince).toBe('2026-03-01T02:29:00Z');
    for (const r of increment1!.records) {
      for (const d of (r.DETECTION_LIST as Detections)!.DETECTION!) {
        expect(d.LAST_UPDATE_DATETIME).toBe('2026-03-01 05:00:00');
      }
    }
  });
});

describe('mobile_assets_latest with tenants: each tenant its own current state', () => {
  it('the same asset IDs in two tenants with different histories: each tenant rebuilt from its own runs', async () => {
    // Tenant a: the whole history. Tenant b: the same files, but its increments after the latest snapshot were
    // never published (no catalogue manifest), so its current state is that snapshot alone.
    const root = await mkdtemp(join(tmpdir(), 'qexport-contract-tenants-'));
    const runs = completeRuns('mobile-assets').sort(byEnd);
    const [, , snapshot, increment1, increment2] = runs;
    let tenants: Duck | undefined;
    try {
      await cp(scenario.root, join(root, 'a'), { recursive: true });
      await cp(scenario.root, join(root, 'b'), { recursive: true });
      for (const r of [increment1!, increment2!]) {
        await rm(join(root, 'b', 'manifests', 'module=mobile-assets', `dt=${r.dt}`, `${r.runId}.json`));
      }
      tenants = await openDuck(root, { tenants: true });
      const per = await tenants.rows<{ tenant: string; n: number; ids: number }>(
        'SELECT tenant, count(*)::INTEGER AS n, count(DISTINCT "ID")::INTEGER AS ids FROM mobile_assets_latest ' +
          'GROUP BY 1 ORDER BY 1',
      );
      expect(per).toEqual([
        { tenant: 'a', n: SIM_COUNTS.mobile, ids: SIM_COUNTS.mobile },
        { tenant: 'b', n: SIM_COUNTS.mobile, ids: SIM_COUNTS.mobile },
      ]);
      const cols = MODULE_SCHEMAS['mobile-assets'].fields
        .map((f) => `${q(f.name)} := ${q(columnName(f.name))}`)
        .join(', ');
      const json = async (d: Duck, where: string) =>
        (
          await d.rows<{ j: string }>(
            `SELECT to_json(struct_pack(${cols}))::VARCHAR AS j FROM mobile_assets_latest ${where} ORDER BY "ID"::BIGINT`,
          )
        ).map((r) => JSON.stringify(normalize(JSON.parse(r.j))));
      // Tenant a sees exactly what the single-tenant view shows; tenant b exactly its latest snapshot.
      expect(await json(tenants, `WHERE tenant = 'a'`)).toEqual(await json(duck, ''));
      const ofSnapshot = [...snapshot!.records]
        .sort((x, y) => Number(x.ID) - Number(y.ID))
        .map((r) => JSON.stringify(normalize(r)));
      expect(await json(tenants, `WHERE tenant = 'b'`)).toEqual(ofSnapshot);
    } finally {
      tenants?.close();
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('VMDR host detections and the KnowledgeBase: current state, and one row per detection joined to the KB', () => {
  const json = async (view: string, module: ModuleName, order: string) => {
    const cols = MODULE_SCHEMAS[module].fields
      .filter((f) => f.name !== 'qexport_run')
      .map((f) => `${q(f.name)} := ${q(columnName(f.name))}`)
      .join(', ');
    return (
      await duck.rows<{ j: string }>(
        `SELECT to_json(struct_pack(${cols}))::VARCHAR AS j FROM ${view} ORDER BY ${order}`,
      )
    ).map((r) => JSON.stringify(normalize(JSON.parse(r.j))));
  };

  it('vmdr_detections_latest equals a full listing taken after the last complete increment', async () => {
    expect(await json('vmdr_detections_latest', 'vmdr-detections', '"ID"::BIGINT')).toEqual(
      scenario.vmdrTruth.map((r) => JSON.stringify(normalize(r))),
    );
    // Not vacuous: hosts processed again after the latest snapshot come from the increments.
    const kinds = await duck.rows<{ kind: string; n: number }>(
      'SELECT run_kind AS kind, count(*)::INTEGER AS n FROM vmdr_detections_latest GROUP BY 1 ORDER BY 1',
    );
    const changed = new Set([...VMDR_CHANGES[0]!.indexes, ...VMDR_CHANGES[1]!.indexes]);
    expect(kinds).toEqual([
      { kind: 'incremental', n: changed.size },
      { kind: 'snapshot', n: scenario.vmdrTruth.length - changed.size },
    ]);
  });

  it('knowledgebase_latest equals the KnowledgeBase as it stands after the increment', async () => {
    expect(await json('knowledgebase_latest', 'knowledgebase', '"QID"::BIGINT')).toEqual(
      scenario.kbTruth.map((r) => JSON.stringify(normalize(r))),
    );
    const [row] = await duck.rows<{ n: number }>(
      `SELECT count(*)::INTEGER AS n FROM knowledgebase_latest WHERE run_kind = 'incremental'`,
    );
    expect(row!.n).toBeGreaterThanOrEqual(KB_CHANGES[0]!.indexes.length);
  });

  it('vmdr_detections_kb: one row per detection, the KB columns from the current KB entry of its QID', async () => {
    const rows = await duck.rows<{
      host_id: string;
      qid: number;
      detection_position: number;
      kb_title: string | null;
      kb_severity: number | null;
      kb_cves: string[] | null;
      kb_cvss_base: number | null;
      kb_cvss3_base: number | null;
      first_found_at: string;
    }>(
      'SELECT host_id, qid::INTEGER AS qid, detection_position::INTEGER AS detection_position, kb_title, ' +
        'kb_severity::INTEGER AS kb_severity, ' +
        'kb_cves, kb_cvss_base, kb_cvss3_base, first_found_at::VARCHAR AS first_found_at FROM vmdr_detections_kb ' +
        'ORDER BY host_id_int, detection_position',
    );
    const kb = new Map(scenario.kbTruth.map((v) => [Number(v.QID), v]));
    const expected = scenario.vmdrTruth.flatMap((h) =>
      ((h.DETECTION_LIST as Detections)?.DETECTION ?? []).map((d, k) => ({ h, d, k })),
    );
    expect(rows).toHaveLength(expected.length);
    let matched = 0;
    let missing = 0;
    expected.forEach(({ h, d, k }, i) => {
      const r = rows[i]!;
      expect(r.host_id).toBe(h.ID);
      expect(r.qid).toBe(Number(d.QID));
      expect(r.detection_position).toBe(k + 1);
      expect(r.first_found_at.replace(' ', 'T')).toBe(String(d.FIRST_FOUND_DATETIME).replace('Z', ''));
      const v = kb.get(Number(d.QID));
      if (!v) {
        missing++;
        expect([r.kb_title, r.kb_severity, r.kb_cves, r.kb_cvss_base]).toEqual([null, null, null, null]);
        return;
      }
      matched++;
      expect(r.kb_title).toBe(v.TITLE);
      expect(r.kb_severity).toBe(Number(v.SEVERITY_LEVEL));
      const cves = (v.CVE_LIST as { CVE: { ID: string }[] } | undefined)?.CVE.map((c) => c.ID) ?? null;
      expect(r.kb_cves).toEqual(cves);
      const base = (v.CVSS as { BASE: { '#text': string } }).BASE['#text'];
      expect(r.kb_cvss_base).toBe(Number(base));
      expect(r.kb_cvss3_base).toBe(Number((v.CVSS_V3 as { BASE: string }).BASE));
    });
    // Both kinds occur: QIDs the KB holds, and QIDs newer than the KB export (kept, KB columns null).
    expect(matched).toBeGreaterThan(100);
    expect(missing).toBeGreaterThan(0);
    // The KB entries Qualys changed show their new titles (the view reads the current KB, not the snapshot's).
    const changedQid = kbQid(KB_CHANGES[0]!.indexes[0]!);
    const titles = rows.filter((r) => r.qid === changedQid).map((r) => r.kb_title);
    for (const t of titles) expect(t).toContain('<1>');
  });

  it('vmdr_detections_kb: its columns have the declared types', async () => {
    const view = detectionKbView();
    const norm = (t: string) => t.replace(/"/g, '').replace(/\s+/g, ' ');
    const described = await duck.rows<{ column_name: string; column_type: string }>(
      `DESCRIBE ${q(view.name)}`,
    );
    expect(described.map((d) => d.column_name)).toEqual(view.columns.map((c) => c.name));
    const types = Object.fromEntries(described.map((d) => [d.column_name, norm(d.column_type)]));
    for (const c of view.columns) expect(types[c.name], c.name).toBe(norm(c.type.duckdb));
  });
});
