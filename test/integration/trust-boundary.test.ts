import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ModuleName } from '../../shared/config';
import type { RunResult } from '../../shared/export/types';
import { parseXml } from '../../shared/modules/xml';
import {
  startSimulator,
  onlyCounts,
  type Mutator,
  type SimDialect,
  type Simulator,
  type WireReply,
} from '../sim';
import { BIG_OFFSET } from '../sim/json';
import {
  ALL_MODULES,
  expectedFor,
  expectExactRecords,
  manifestKeys,
  readRunFromDir,
  runUntilSettled,
  simRuns,
  testClient,
} from '../support/harness';
import {
  addHeader,
  bodyBytes,
  bodyText,
  compressed,
  gzipBomb,
  header,
  withBody,
  withHeader,
  type Coding,
} from '../fuzz/wire';

/**
 * The trust boundary over real HTTP, module by module: what may arrive (compressed bodies, integers beyond 2^53,
 * an absent Content-Type) ends in exactly the simulator's records; what may not (a body in another charset, not
 * UTF-8, of the wrong type, too large, a gzip bomb, a record carrying the exporter's own field) ends in a retried or
 * failed run with a message naming it, and nothing published.
 */
const NOW = () => new Date('2026-01-02T00:00:00.000Z');
const runs = simRuns();
afterEach(() => runs.cleanup());
/** One simulator per module and dialect for the whole file (each test sets its own mutator). */
const shared = new Map<string, Simulator>();
afterAll(async () => {
  await Promise.all([...shared.values()].map((s) => s.close()));
});
/** Simulators of their own, closed with the file. */
const own: Simulator[] = [];
afterAll(async () => {
  await Promise.all(own.map((s) => s.close()));
});
async function simFor(module: ModuleName, dialect: SimDialect, fresh = false): Promise<Simulator> {
  if (fresh) {
    const sim = await startSimulator({ seed: 9, counts: onlyCounts(module, 23), dialect });
    own.push(sim);
    return sim;
  }
  const key = `${module} ${JSON.stringify(dialect)}`;
  let sim = shared.get(key);
  if (!sim)
    shared.set(key, (sim = await startSimulator({ seed: 9, counts: onlyCounts(module, 23), dialect })));
  return sim;
}

const DATA_PATH: Record<ModuleName, string> = {
  'pci-scans': '/pci/',
  'certview-certificates': '/certview/',
  'edr-events': '/ioc/events/scroll',
  'mobile-assets': '/sem/',
  // Each test's simulator serves one module: the API server's prefix names it.
  'vmdr-detections': '/api/',
  knowledgebase: '/api/',
};

/** The modules whose bodies are read as streams (the XML truncation listings). */
const STREAMED = new Set<ModuleName>(['mobile-assets', 'vmdr-detections', 'knowledgebase']);

/** A mutator for the module's data replies (2xx), `times` of them (default every one). */
function onData(module: ModuleName, f: (r: WireReply) => WireReply, times = Infinity): Mutator {
  let left = times;
  return ({ path, reply }) => {
    if (!path.startsWith(DATA_PATH[module]) || reply.status !== 200 || left <= 0) return undefined;
    left--;
    return f(reply);
  };
}

async function exportWith(
  module: ModuleName,
  mutator: Mutator | undefined,
  env: Record<string, string> = {},
  dialect: SimDialect = {},
  /**
   * A simulator of its own: a mutation applied once must reach this run. On a shared one, a page an earlier failed
   * run requested ahead (its client still retrying after the run gave up) could take it.
   */
  fresh = false,
) {
  const sim = await simFor(module, dialect, fresh);
  // Two retries are enough to show a refusal is retried; fewer attempts keep the file fast.
  const r = { sim, ...(await runs.prepare(sim, { QUALYS_HTTP_MAX_RETRIES: '2', ...env })) };
  sim.setMutator(mutator);
  sim.faults.clear();
  const client = testClient(r.sim, r.config);
  const mutatedBefore = sim.stats().mutated;
  const { result } = await runUntilSettled(module, r.config, client, r.store, { now: NOW });
  sim.setMutator(undefined);
  return { ...r, result, client, mutated: sim.stats().mutated - mutatedBefore };
}

async function expectDoneExact(module: ModuleName, x: Awaited<ReturnType<typeof exportWith>>) {
  expect(x.result.status, JSON.stringify(x.result.error)).toBe('done');
  const run = await readRunFromDir(x.dir, x.result.manifestKey!);
  // 23 records (host detections: the hosts among 23 that have detections; the others are not listed).
  expect(run.records.length).toBe(
    module === 'vmdr-detections' ? [...expectedFor(x.sim, module, run.manifest.range)].length : 23,
  );
  expect(run.records.length).toBeGreaterThan(15);
  expectExactRecords(x.sim, module, run);
}

async function expectFailed(x: { result: RunResult; dir: string }, pattern: RegExp) {
  expect(x.result.status).toBe('failed');
  expect(x.result.error?.message).toMatch(pattern);
  expect(await manifestKeys(x.dir)).toEqual([]);
}

describe('accepted: content coding, integers beyond 2^53, no Content-Type', () => {
  const codings: Coding[] = ['gzip', 'deflate', 'br'];
  it.each(ALL_MODULES.flatMap((module) => codings.map((coding) => ({ module, coding }))))(
    '$module, $coding bodies: exactly the records',
    async ({ module, coding }) => {
      const x = await exportWith(
        module,
        onData(module, (r) => compressed(r, coding)),
      );
      expect(x.sim.stats().mutated).toBeGreaterThan(0);
      await expectDoneExact(module, x);
    },
  );

  it.each(['pci-scans', 'certview-certificates', 'edr-events'] as const)(
    '%s with integers beyond 2^53: every digit kept, in the records and in the ids deduplicated by',
    async (module) => {
      const x = await exportWith(module, undefined, {}, { bigNumbers: true });
      await expectDoneExact(module, x);
      const run = await readRunFromDir(x.dir, x.result.manifestKey!);
      // The digits JSON.parse would have lost are in the lines as written.
      expect(run.lines.join('\n')).toMatch(
        module === 'edr-events'
          ? /"eventSequence":92233720368547758\d\d,/
          : /"(scanId|id)":1152921504606\d{6},/,
      );
      expect(new Set(run.lines.map((l) => /"(?:scanId|id)":("?[^,"]+"?)/.exec(l)![1])).size).toBe(23);
    },
  );

  it.each(ALL_MODULES)(
    '%s without a Content-Type: judged by its parse and shape, exactly the records',
    async (module) => {
      const x = await exportWith(
        module,
        onData(module, (r) => withHeader(r, 'content-type', undefined)),
      );
      await expectDoneExact(module, x);
    },
  );

  it('a UTF-8 BOM is dropped, not taken for a character (JSON and XML)', async () => {
    for (const module of ['pci-scans', 'mobile-assets'] as const) {
      const bom = Buffer.from([0xef, 0xbb, 0xbf]);
      const x = await exportWith(
        module,
        onData(module, (r) => withBody(r, Buffer.concat([bom, bodyBytes(r)]))),
      );
      await expectDoneExact(module, x);
    }
  });
});

describe('refused: charsets, encodings, types', () => {
  const latin1 = (r: WireReply) =>
    withHeader(
      withBody(
        r,
        Buffer.from(
          bodyText(r)
            .replace(/"scan /, '"scän ')
            .replace('<DATETIME>', '<DATETIME>é'),
          'latin1',
        ),
      ),
      'content-type',
      `${header(r, 'content-type')}; charset=iso-8859-1`,
    );
  const utf16 = (r: WireReply) =>
    withHeader(
      withBody(r, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(bodyText(r), 'utf16le')])),
      'content-type',
      `${header(r, 'content-type')}; charset=utf-16`,
    );
  /** Labelled UTF-8 but not: a Latin-1 byte inside the first string value. */
  const notUtf8 = (r: WireReply) => {
    const b = bodyBytes(r);
    const at = b.indexOf(0x22, b.indexOf(0x3a)) + 1; // after the first `:"` (JSON) …
    const x = at > 0 ? at : b.indexOf(0x3e, b.indexOf('<DATETIME')) + 1; // … or inside <DATETIME> (XML)
    return withBody(r, Buffer.concat([b.subarray(0, x), Buffer.from([0xe9]), b.subarray(x)]));
  };
  const cases: [string, (r: WireReply) => WireReply, RegExp][] = [
    ['charset=iso-8859-1', latin1, /charset 'iso-8859-1'; only UTF-8 is read/],
    ['UTF-16 with a BOM', utf16, /charset 'utf-16'/],
    ['bytes that are not UTF-8', notUtf8, /not valid UTF-8/],
    [
      'an HTML page with 200',
      (r) =>
        withHeader(
          withBody(r, '<!DOCTYPE html><html><body><h1>Scheduled maintenance</h1></body></html>'),
          'content-type',
          'text/html; charset=utf-8',
        ),
      /an HTML page: an error or login page in front of the API/,
    ],
    [
      'a valid body labelled text/plain',
      (r) => withHeader(r, 'content-type', 'text/plain'),
      /"text\/plain", not application\/(json|xml)/,
    ],
    ['two Content-Types', (r) => addHeader(r, 'content-type', 'text/html'), /, text\/html", not application/],
  ];
  it.each(ALL_MODULES.flatMap((module) => cases.map(([name, f, message]) => ({ module, name, f, message }))))(
    '$module, $name: retried, then a failed run naming it; once only: exactly the records',
    async ({ module, f, message }) => {
      const always = await exportWith(module, onData(module, f));
      await expectFailed(always, message);
      expect(always.result.error?.message).toMatch(/giving up after \d+ attempts/);
      const once = await exportWith(module, onData(module, f, 1), {}, {}, true);
      await expectDoneExact(module, once);
      // Read as a stream (the XML listings), a body refused mid-way is read again by the paginator, not the client.
      if (STREAMED.has(module)) expect(once.mutated).toBe(1);
      else expect(once.client.stats().retries).toBeGreaterThan(0);
    },
  );

  it('an XML declaration naming another encoding is refused (VMDR Mobile)', async () => {
    const x = await exportWith(
      'mobile-assets',
      onData('mobile-assets', (r) =>
        withBody(r, bodyText(r).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')),
      ),
    );
    await expectFailed(x, /XML declaration says encoding="ISO-8859-1"; only UTF-8 is read/);
  });
});

describe('bounded: declared size, size on the wire, size inflated', () => {
  const SMALL = {
    QEXPORT_MAX_RESPONSE_BYTES: String(64 * 1024),
    QEXPORT_MAX_DECODED_BYTES: String(256 * 1024),
  };
  /** Pads a body past `bytes` with whitespace (still the same JSON or XML document). */
  const padded = (r: WireReply, bytes: number) => withBody(r, bodyText(r) + ' '.repeat(bytes));

  it.each(ALL_MODULES)(
    '%s: a declared Content-Length over the bound is refused unread, at once',
    async (module) => {
      const x = await exportWith(
        module,
        onData(module, (r) => padded(r, 70 * 1024)),
        SMALL,
      );
      await expectFailed(x, /declares \d+ bytes, more than the 65536 allowed \(QEXPORT_MAX_RESPONSE_BYTES\)/);
      expect(x.result.error?.code).toBe('too-large');
      expect(x.client.stats().retries).toBe(0);
    },
  );

  it.each(ALL_MODULES)(
    '%s: an uncompressed body without Content-Length is counted on the wire',
    async (module) => {
      const x = await exportWith(
        module,
        onData(module, (r) => withHeader(padded(r, 70 * 1024), 'content-length', undefined)),
        SMALL,
      );
      await expectFailed(
        x,
        /is more than 65536 bytes, more than the 65536 allowed \(QEXPORT_MAX_RESPONSE_BYTES\)/,
      );
    },
  );

  it.each(ALL_MODULES)(
    '%s: a gzip bomb (1 MB on the wire, 1 GiB inflated) is abandoned at the bound',
    async (module) => {
      const bomb = gzipBomb(1024 ** 3);
      expect(bomb.length).toBeLessThan(1.2 * 1024 * 1024);
      // Counts what the client pulls out of each body: it must stop within a chunk or two of the bound.
      const pulled: number[] = [];
      const counting: typeof fetch = async (input, init) => {
        const res = await fetch(input, init);
        if (!res.body || res.headers.get('content-encoding') !== 'gzip') return res;
        const n = pulled.push(0) - 1;
        const body = res.body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, c) {
              pulled[n]! += chunk.byteLength;
              c.enqueue(chunk);
            },
          }),
        );
        return new Response(body, { status: res.status, headers: res.headers });
      };
      // 1 MB on the wire is allowed; what it inflates to is not.
      const r = await runs.start(
        { seed: 9, counts: onlyCounts(module, 23) },
        { ...SMALL, QEXPORT_MAX_RESPONSE_BYTES: String(4 * 1024 * 1024) },
      );
      r.sim.setMutator(onData(module, (w) => withHeader(withBody(w, bomb), 'content-encoding', 'gzip')));
      const client = testClient(r.sim, r.config, { fetch: counting });
      const { result } = await runUntilSettled(module, r.config, client, r.store, { now: NOW });
      await expectFailed({ ...r, result }, /inflates to more than 262144 bytes.*QEXPORT_MAX_DECODED_BYTES/);
      expect(pulled.length).toBeGreaterThan(0);
      expect(Math.max(...pulled)).toBeLessThan(256 * 1024 + 2 * 65_536);
      expect(client.stats().retries).toBe(0);
    },
  );
});

describe('the field the exporter adds never collides with a record field', () => {
  it.each(['pci-scans', 'certview-certificates', 'edr-events'] as const)(
    '%s: a record carrying qexport_run fails the run, naming the field',
    async (module) => {
      const x = await exportWith(
        module,
        onData(module, (r) =>
          withBody(r, bodyText(r).replace(/\{"(id|scanId|dateTime)"/, '{"qexport_run":"x","$1"')),
        ),
      );
      await expectFailed(x, /a record carries its own 'qexport_run' field/);
    },
  );

  it('mobile-assets: an ASSET element named qexport_run fails the run too', async () => {
    const x = await exportWith(
      'mobile-assets',
      onData('mobile-assets', (r) =>
        withBody(r, bodyText(r).replace('<ASSET><ID>', '<ASSET><qexport_run>x</qexport_run><ID>')),
      ),
    );
    await expectFailed(x, /a record carries its own 'qexport_run' field/);
    // (The XML reader gives an element as a field: the same collision.)
    expect(parseXml('<A><qexport_run>x</qexport_run></A>')).toEqual({ A: { qexport_run: 'x' } });
  });
});

describe('the simulator speaks each trust-boundary dialect', () => {
  it('bigNumbers: the ids and fields beyond 2^53 are on the wire as JSON numbers', async () => {
    const sim = await startSimulator({ counts: onlyCounts('pci-scans', 2), dialect: { bigNumbers: true } });
    try {
      const res = await fetch(`${sim.url}/pci/scan/list?limit=2`, {
        headers: {
          authorization: `Basic ${Buffer.from(`${sim.defaults.pciUsername}:${sim.defaults.pciPassword}`).toString('base64')}`,
        },
      });
      expect(await res.text()).toContain(`"scanId":${BIG_OFFSET + 1001n},`);
    } finally {
      await sim.close();
    }
  });
});
