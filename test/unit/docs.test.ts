import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../shared/config';
import { fieldPaths, MANIFEST_SCHEMA, MODULE_SCHEMAS } from '../../shared/schema';
import { dataDictionary, fillBlocks, queryingBlocks } from '../../shared/schema/docs';
import { ALL_VIEWS, detectionKbView } from '../../shared/schema/views';

const DOCS = join(import.meta.dirname, '..', '..', 'docs');
const read = (f: string) => readFileSync(join(DOCS, f), 'utf8');

describe('docs generated from the schemas are up to date (run `npm run docs:gen`)', () => {
  it('docs/data-dictionary.md', () => {
    expect(read('data-dictionary.md')).toBe(dataDictionary());
  });

  it('the generated blocks of docs/querying.md (Spark schemas, Snowflake DDL, Mobile UNNEST)', () => {
    const text = read('querying.md');
    expect(text).toBe(fillBlocks(text, queryingBlocks()));
  });

  it('the dictionary lists every field path of every schema', () => {
    const text = read('data-dictionary.md');
    for (const schema of [...MODULES.map((m) => MODULE_SCHEMAS[m]), MANIFEST_SCHEMA]) {
      for (const path of fieldPaths(schema)) {
        // Shown with [] after array levels; compare with those removed.
        const shown = [...text.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!.replace(/\[\]/g, ''));
        expect(shown, `${schema.table}: ${path}`).toContain(path);
      }
    }
  });
});

describe('example queries name relations the stack creates', () => {
  const relations = new Set([
    ...MODULES.map((m) => MODULE_SCHEMAS[m].table),
    MANIFEST_SCHEMA.table,
    ...ALL_VIEWS.map((v) => v.name),
    detectionKbView().name,
  ]);
  it.each(['querying.md', 'deploy.md'])('%s', (file) => {
    const blocks = [...read(file).matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThan(0);
    const athena = blocks.filter((b) => !b.includes('CREATE OR REPLACE'));
    const named = athena.flatMap((b) => [...b.matchAll(/\b(?:FROM|JOIN)\s+([a-z_]+)/g)].map((m) => m[1]!));
    expect(named.length).toBeGreaterThan(0);
    for (const n of named) expect(relations, n).toContain(n);
    // The old "today's last run" query picked incomplete runs; it must not come back.
    for (const b of athena) expect(b).not.toContain('$path');
  });
});
