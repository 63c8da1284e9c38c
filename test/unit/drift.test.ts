import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODULES, type ModuleName } from '../../shared/config';
import { MODULE_SCHEMAS, type Field, type FieldType } from '../../shared/schema';
import {
  addDrift,
  driftChecker,
  emptyDrift,
  MAX_DRIFT_FIELDS,
  MAX_PATHS_PER_RECORD,
  mergeDrift,
} from '../../shared/schema/drift';
import { certificate, edrEvent, mobileAsset, pciScan } from '../sim/data';
import { EXPORTER_HLD_VIEW, EXPORTER_KB_VIEW, kbVuln, vmdrHost } from '../sim/vmdr';

const run = (r: object) => ({ qexport_run: '20260301T000000Z-abcdef', ...r });
const timeline = { startMs: Date.parse('2026-01-01T00:00:00Z'), stepMs: 1000, perTick: 1 };
const sample: Record<ModuleName, (i: number) => Record<string, unknown>> = {
  'pci-scans': (i) => run(pciScan(3, 1000 + i)),
  'certview-certificates': (i) => run(certificate(3, i)),
  'edr-events': (i) => run(edrEvent(3, timeline, i)),
  'mobile-assets': (i) => run(mobileAsset(3, i)),
  'vmdr-detections': (i) => run(vmdrHost(3, i, {}, { ...EXPORTER_HLD_VIEW, version: '5.0' }, 50) ?? {}),
  knowledgebase: (i) => run(kbVuln(3, i, { ...EXPORTER_KB_VIEW, version: '4.0' })),
};

/** Records of any shape the schema allows (every field optional, arrays of any length, maps with any keys). */
function arbitraryOf(t: FieldType): fc.Arbitrary<unknown> {
  switch (t.kind) {
    case 'scalar':
      return t.scalar === 'string'
        ? fc.string()
        : t.scalar === 'boolean'
          ? fc.boolean()
          : t.scalar === 'integer'
            ? fc.integer()
            : fc.double({ noNaN: true });
    case 'json':
      return fc.jsonValue();
    case 'array':
      return fc.array(arbitraryOf(t.items), { maxLength: 3 });
    case 'map':
      return fc.dictionary(fc.string(), fc.option(arbitraryOf(t.values)), { maxKeys: 3 });
    case 'struct':
      return structOf(t.fields);
  }
}
function structOf(fields: Field[]): fc.Arbitrary<Record<string, unknown>> {
  return fc.record(Object.fromEntries(fields.map((f) => [f.name, fc.option(arbitraryOf(f.type))])), {
    requiredKeys: [],
  });
}

/** Every place a new key could appear: the paths of structs reachable without crossing a map. */
function structPaths(fields: Field[], path = ''): string[] {
  const out = [path];
  for (const f of fields) {
    let t = f.type;
    while (t.kind === 'array') t = t.items;
    if (t.kind === 'struct') out.push(...structPaths(t.fields, path ? `${path}.${f.name}` : f.name));
  }
  return out;
}

/** Adds `key` to the object(s) at `path` in `record` (creating them where missing); arrays get one element. */
function inject(record: Record<string, unknown>, fields: Field[], path: string, key: string) {
  let obj: Record<string, unknown> = record;
  let fs = fields;
  for (const name of path ? path.split('.') : []) {
    const f = fs.find((x) => x.name === name)!;
    let t = f.type;
    let arrays = 0;
    while (t.kind === 'array') {
      t = t.items;
      arrays++;
    }
    const child: Record<string, unknown> = {};
    let holder: unknown = child;
    for (let i = 0; i < arrays; i++) holder = [holder];
    obj[name] = holder;
    obj = child;
    fs = (t as Extract<FieldType, { kind: 'struct' }>).fields;
  }
  obj[key] = 'new';
}

describe('drift checker', () => {
  it.each(MODULES)('%s: simulator records carry no undeclared field', (module) => {
    const check = driftChecker(module);
    for (let i = 0; i < 200; i++) expect(check(sample[module](i))).toBeUndefined();
  });

  it('names undeclared fields at the top, in structs, and inside arrays (array levels transparent)', () => {
    const r = sample['certview-certificates'](1) as Record<string, unknown> & {
      subject: Record<string, unknown>;
      assets: { tags: Record<string, unknown>[] }[];
    };
    r.newTop = 1;
    r.subject.serialNumber = 'x';
    r.assets[0]!.tags[0]!.color = 'red';
    // In the record's key order: subject and assets come before the appended newTop.
    expect(driftChecker('certview-certificates')(r)).toEqual([
      'subject.serialNumber',
      'assets.tags.color',
      'newTop',
    ]);
  });

  it("does not count a map's new keys or what an opaque value holds", () => {
    const r = sample['certview-certificates'](2) as Record<string, unknown> & {
      subjectAlternativeNames: Record<string, unknown>;
      assets: { hostInstances: { vulnerabilities: unknown[] }[] }[];
    };
    r.subjectAlternativeNames.URI = ['https://example.com'];
    r.assets[0]!.hostInstances[0]!.vulnerabilities.push({ qid: 1, anything: { nested: true } });
    expect(driftChecker('certview-certificates')(r)).toBeUndefined();
  });

  it('Mobile XML attributes (@_…) or a new element are drift', () => {
    const r = sample['mobile-assets'](0) as Record<string, unknown>;
    r['@_version'] = '2';
    r.SERIAL = 'abc';
    expect(driftChecker('mobile-assets')(r)).toEqual(['@_version', 'SERIAL']);
  });

  it('reports at most a few paths per record', () => {
    const r: Record<string, unknown> = sample['pci-scans'](0);
    for (let i = 0; i < 50; i++) r[`x${i}`] = i;
    expect(driftChecker('pci-scans')(r)).toHaveLength(MAX_PATHS_PER_RECORD);
  });

  it.each(MODULES)('%s (property): any record the schema allows has no drift', (module) => {
    const check = driftChecker(module);
    fc.assert(
      fc.property(structOf(MODULE_SCHEMAS[module].fields), (r) => check(r) === undefined),
      { numRuns: 200 },
    );
  });

  it.each(MODULES)('%s (property): a key added anywhere is reported with its path', (module) => {
    const fields = MODULE_SCHEMAS[module].fields;
    const check = driftChecker(module);
    fc.assert(
      fc.property(
        fc.constantFrom(...structPaths(fields)),
        fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,12}$/).map((k) => `zz_${k}`),
        (path, key) => {
          const r: Record<string, unknown> = { qexport_run: 'r' };
          inject(r, fields, path, key);
          expect(check(r)).toEqual([path ? `${path}.${key}` : key]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each(MODULES)(
    '%s (property): over any sequence of records, clean or drifting, the remembered shapes change no answer',
    (module) => {
      // The checker remembers each struct's last clean key order; this reference looks every key up, every time.
      const fields = MODULE_SCHEMAS[module].fields;
      const reference = (r: Record<string, unknown>) => {
        const out: string[] = [];
        const visit = (t: FieldType, v: unknown, path: string[]) => {
          if (v === null || typeof v !== 'object') return;
          if (t.kind === 'struct') visitFields(t.fields, v, path);
          else if (t.kind === 'array' && Array.isArray(v)) for (const x of v) visit(t.items, x, path);
          else if (t.kind === 'map' && !Array.isArray(v))
            for (const x of Object.values(v)) visit(t.values, x, path);
        };
        const visitFields = (fs: Field[], v: object, path: string[]) => {
          if (Array.isArray(v)) return;
          for (const [k, x] of Object.entries(v)) {
            const f = fs.find((y) => y.name === k);
            if (!f) out.push([...path, k].join('.'));
            else visit(f.type, x, [...path, k]);
          }
        };
        visitFields(fields, r, []);
        return out.length ? out.slice(0, MAX_PATHS_PER_RECORD) : undefined;
      };
      const drifting = fc
        .tuple(
          structOf(fields),
          fc.constantFrom(...structPaths(fields)),
          fc.stringMatching(/^[a-z][a-zA-Z0-9]{0,8}$/),
        )
        .map(([r, path, key]) => {
          const copy = structuredClone(r);
          inject(copy, fields, path, `zz_${key}`);
          return copy;
        });
      const check = driftChecker(module);
      fc.assert(
        fc.property(
          fc.array(fc.oneof(structOf(fields), drifting, fc.constant(sample[module](7))), { maxLength: 12 }),
          (records) => {
            for (const r of records) expect(check(r)).toEqual(reference(r));
          },
        ),
        { numRuns: 150 },
      );
    },
  );

  it('a run summary counts drifting records and keeps a bounded sample of distinct paths', () => {
    const s = emptyDrift();
    addDrift(s, undefined);
    addDrift(s, ['a', 'b']);
    addDrift(s, ['a']);
    expect(s).toEqual({ records: 2, fields: ['a', 'b'] });
    for (let i = 0; i < 100; i++) addDrift(s, [`f${i}`]);
    expect(s.records).toBe(102);
    expect(s.fields).toHaveLength(MAX_DRIFT_FIELDS);
    expect(mergeDrift({ records: 1, fields: ['a'] }, { records: 2, fields: ['a', 'c'] })).toEqual({
      records: 3,
      fields: ['a', 'c'],
    });
  });
});
