import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV, ENV_REFERENCE, loadConfig, type EnvRow } from '../../shared/config';
import { configurationPage } from '../../shared/config-docs';
import { ConfigError } from '../../shared/errors';

const PAGE = join(import.meta.dirname, '..', '..', 'docs', 'configuration.md');
const rows = Object.entries(ENV_REFERENCE) as [keyof typeof ENV, EnvRow][];

describe('docs/configuration.md, generated from ENV_REFERENCE', () => {
  it('is up to date (run `npm run docs:gen`)', () => {
    expect(readFileSync(PAGE, 'utf8')).toBe(configurationPage());
  });

  it('has one row for every variable in ENV, and no other', () => {
    const listed = [...configurationPage().matchAll(/^\| `([A-Za-z_]+)` \|/gm)].map((m) => m[1]);
    expect([...listed].sort()).toEqual(Object.values(ENV).sort());
    // The type makes a missing key a compile error; this catches a row added for a key ENV does not have.
    expect(Object.keys(ENV_REFERENCE).sort()).toEqual(Object.keys(ENV).sort());
  });
});

describe('the whole-number ranges and defaults on the page are what loadConfig enforces', () => {
  const base = { QUALYS_PLATFORM: 'US1' };
  const numeric = rows.filter((r): r is [keyof typeof ENV, EnvRow & { 2: readonly [number, number] }] =>
    Array.isArray(r[1][2]),
  );
  it('covers the numeric settings', () => expect(numeric.length).toBeGreaterThan(15));

  it.each(numeric.map(([key, row]) => [ENV[key], row] as const))('%s', (name, [, dflt, range]) => {
    const [min, max] = range as readonly [number, number];
    const load = (v: string) => loadConfig({ ...base, [name]: v });
    expect(() => load(String(min))).not.toThrow();
    expect(() => load(String(max))).not.toThrow();
    for (const bad of [String(min - 1), String(max + 1)]) {
      let err: unknown;
      try {
        load(bad);
      } catch (e) {
        err = e;
      }
      expect(err, `${name}=${bad}`).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain(name);
    }
    const d = /^`(\d+)`$/.exec(dflt)?.[1];
    expect(d, `${name}: default '${dflt}' is a whole number`).toBeDefined();
    expect(load(d!)).toEqual(loadConfig(base));
  });
});
