// The state file's declared shapes (issue 19 item 5) and the process identity of leases (item 6).
import { describe, expect, it } from 'vitest';
import { MODULES } from '../../shared/config';
import { describeWhen } from '../../shared/export/lease';
import { stateShape, StateDamagedError, TIME, validateState } from '../../shared/export/state-shape';
import { holderState, sameHost, thisProcess } from '../../shared/local-process';
import { getModule } from '../../shared/modules';
import { differences } from '../../shared/qualys/shapes';

describe('state shapes', () => {
  const pci = getModule('pci-scans');
  const sound = {
    module: 'pci-scans',
    inProgress: {
      runId: 'r1',
      dt: '2026-01-01',
      startedAt: '2026-01-01T00:00:00.000Z',
      startCursor: { offset: 1, limit: 10 },
      cursor: { offset: 11, limit: 10, written: 10 },
      records: 10,
      stored: { parts: 1, bytes: 100, rawBytes: 900 },
      journal: 1,
      apiCalls: 1,
      retries: 0,
      invocations: 1,
      settings: { QUALYS_PCI_PAGE_SIZE: '10' },
    },
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const damaged = (f: (s: any) => void) => {
    const s = structuredClone(sound);
    f(s);
    return () => validateState(s, pci, '/x/_state/pci-scans.json');
  };

  it('a sound file is returned as it is', () => {
    expect(validateState(sound, pci, 'f')).toEqual(sound);
    expect(validateState({ module: 'pci-scans' }, pci, 'f')).toEqual({ module: 'pci-scans' });
  });

  it('names the field, what it should be and what the file has', () => {
    expect(damaged((s) => (s.inProgress.records = -1))).toThrow(
      /inProgress\.records: expected an integer ≥ 0, got an integer \(the file has -1\)/,
    );
    expect(damaged((s) => (s.inProgress.cursor.offset = 'x'))).toThrow(
      /inProgress\.cursor\.offset: expected an integer/,
    );
    expect(damaged((s) => (s.lease = null))).toThrow(/lease: is null/);
    expect(damaged((s) => (s.inProgress.stored = null))).toThrow(/inProgress\.stored: is null/);
    expect(damaged((s) => (s.inProgress.settings.X = 3))).toThrow(
      /inProgress\.settings\.X: expected text or null/,
    );
    expect(damaged((s) => (s.inProgress.journal = 0))).toThrow(/0 segments hold 1 stored parts/);
    expect(damaged((s) => (s.extra = 1))).toThrow(/extra: is not a field a state file has/);
    expect(damaged((s) => (s.module = 'edr-events'))).toThrow(/it is the state of "edr-events"/);
    expect(() => validateState({}, pci, 'f')).toThrow(/module: missing/);
    expect(() => validateState(null, pci, 'f')).toThrow(StateDamagedError);
  });

  it('times must be ISO instants whose fields exist', () => {
    for (const bad of [
      '2026-13-01T00:00:00Z',
      '2026-01-32T00:00:00Z',
      '2026-01-01',
      'yesterday',
      1_700_000_000_000,
      '',
    ])
      expect(differences(TIME, bad)).not.toEqual([]);
    for (const good of ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00.123Z', '2026-01-01T01:00:00+01:00'])
      expect(differences(TIME, good)).toEqual([]);
  });

  it('every module declares its cursor and committed shapes and the settings that shape a run', () => {
    for (const name of MODULES) {
      const m = getModule(name);
      expect(stateShape(m).t).toBe('object');
      // A cursor may have an earlier version's shape too (mobile-assets): a oneOf of objects.
      const cursors = m.state.cursor.t === 'oneOf' ? m.state.cursor.options : [m.state.cursor];
      for (const c of cursors) expect(c.t).toBe('object');
      expect(m.state.committed.t).toBe('object');
      expect(m.runSettings.length).toBeGreaterThan(0);
    }
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
