// The state file's declared shapes (issue 19 item 5) and the process identity of leases (item 6).
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../shared/config';
import { describeWhen } from '../../shared/export/lease';
import { stateShape, validateState, StateDamagedError } from '../../shared/export/state-shape';
import { holderState, sameHost, thisProcess } from '../../shared/local-process';
import { getModule } from '../../shared/modules';
import { misfit, S } from '../../shared/modules/shape';

describe('shapes', () => {
  it('name the path and the problem', () => {
    const shape = S.object({ a: S.array(S.object({ t: S.time, n: S.count })), b: S.optional(S.boolean) });
    expect(misfit({ a: [{ t: '2026-01-01T00:00:00Z', n: 1 }] }, shape, '')).toBeUndefined();
    expect(misfit({ a: [{ t: '2026-01-01T00:00:00Z', n: -1 }] }, shape, '')).toEqual([
      'a[0].n',
      '-1 is below 0',
    ]);
    expect(misfit({ a: [{ t: 'then', n: 1 }] }, shape, '')?.[0]).toBe('a[0].t');
    expect(misfit({ a: [], b: 'yes' }, shape, '')).toEqual(['b', '"yes" is not true or false']);
    expect(misfit({}, shape, '')).toEqual(['a', 'is missing']);
    expect(misfit({ a: [], c: 1 }, { ...shape, closed: true } as never, '')).toEqual([
      'c',
      'is not a field this file has',
    ]);
  });

  it('times must be ISO instants that exist', () => {
    for (const bad of ['2026-02-30T00:00:00Z', '2026-01-01', 'yesterday', 1_700_000_000_000, ''])
      expect(misfit(bad, S.time, 'x')).toBeDefined();
    for (const good of ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.123Z', '2026-01-01T01:00:00+01:00'])
      expect(misfit(good, S.time, 'x')).toBeUndefined();
  });

  it('every module declares a cursor shape its own start cursor fits', () => {
    for (const name of MODULES) {
      const m = getModule(name);
      expect(stateShape(m).t).toBe('object');
      expect(m.state.cursor.t).toBe('object');
      expect(m.runSettings.length).toBeGreaterThan(0);
    }
  });

  it('a file of another module, or of none, is refused naming the field', () => {
    const pci = getModule('pci-scans');
    expect(validateState({ module: 'pci-scans' }, pci, 'f')).toEqual({ module: 'pci-scans' });
    expect(() => validateState({ module: 'edr-events' }, pci, 'f')).toThrow(StateDamagedError);
    expect(() => validateState({}, pci, 'f')).toThrow(/module: is missing/);
    expect(() => validateState(null, pci, 'f')).toThrow(/not a JSON object/);
  });
});

describe('lease holders', () => {
  const me = thisProcess();
  const probe = (alive: boolean, start?: string) => ({ alive: () => alive, start: () => start });

  it('a process of this host is dead when its pid is free or now another process', () => {
    const holder = { ...me, pid: 4242, start: 'proc:100' };
    expect(holderState(holder, me, probe(false))).toBe('dead');
    expect(holderState(holder, me, probe(true, 'proc:100'))).toBe('alive');
    expect(holderState(holder, me, probe(true, 'proc:999'))).toBe('dead');
    // The OS cannot say when it started: it may be the holder.
    expect(holderState(holder, me, probe(true, undefined))).toBe('alive');
  });

  it('another host, another boot, another PID namespace is never judged from here', () => {
    expect(holderState({ ...me, host: 'other' }, me, probe(false))).toBe('elsewhere');
    if (me.boot) {
      const later = new Date(Date.parse(me.boot) + 3600_000).toISOString();
      expect(sameHost({ ...me, boot: later }, me)).toBe(false);
      const near = new Date(Date.parse(me.boot) + 20_000).toISOString();
      expect(sameHost({ ...me, boot: near }, me)).toBe(true);
    }
    expect(sameHost({ ...me, pidns: 'pid:[1]' }, { ...me, pidns: 'pid:[2]' })).toBe(false);
  });

  it('this very process is alive', () => {
    expect(holderState(me, me)).toBe('alive');
  });

  it('expiry is told in local time, UTC and how far off', () => {
    const now = new Date('2026-03-01T12:00:00.000Z');
    const text = describeWhen('2026-03-01T12:04:00.000Z', now);
    expect(text).toMatch(
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d\d:\d\d \(2026-03-01 12:04:00 UTC\), in 4 minutes$/,
    );
    expect(describeWhen('2026-03-01T11:00:00.000Z', now)).toMatch(/60 minutes ago$/);
    expect(describeWhen('2026-03-01T12:00:30.000Z', now)).toMatch(/in 30 seconds$/);
  });
});
