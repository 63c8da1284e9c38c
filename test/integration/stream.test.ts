import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ParseError, PolicyError, QualysHttpError, StreamError } from '../../shared/errors';
import { createQualysClient } from '../../shared/qualys/client';
import type { ClientOptions, QualysRequest, QualysStream } from '../../shared/qualys/types';
import { startSimulator, type Simulator } from '../sim';
import { bodyText, withBody, withHeader } from '../fuzz/wire';
import { simConfig, simTokens } from '../support/harness';
import { startRecorder } from '../support/recorder';

/**
 * The client's streaming read over real HTTP: status handling, auth, retries and waits as for `call` before the body
 * is read; then UTF-8 text pieces under the same policy (bounds, charset, strict decoding, a stall timeout), and the
 * concurrency slot held until the body is consumed or cancelled.
 */
let sim: Simulator;
let other: Awaited<ReturnType<typeof startRecorder>>;
beforeAll(async () => {
  sim = await startSimulator({ seed: 2, counts: { pci: 40, mobile: 5 } });
  other = await startRecorder();
});
afterAll(async () => {
  await Promise.all([sim.close(), other.close()]);
});

const PCI: QualysRequest = {
  url: '/pci/scan/list',
  base: 'pci',
  query: { offset: 1, limit: 40 },
  label: 'pci page',
};

function client(opts: Partial<ClientOptions> = {}) {
  const config = simConfig(sim);
  return createQualysClient({
    gatewayUrl: sim.url,
    pciUrl: sim.url,
    fetch,
    auth: {
      gateway: { scheme: 'bearer', tokens: simTokens(sim, config) },
      pci: { scheme: 'basic', username: sim.defaults.pciUsername, password: sim.defaults.pciPassword },
    },
    timeoutMs: 2000,
    maxRetries: 2,
    concurrency: 2,
    backoffBaseMs: 1,
    backoffMaxMs: 5,
    ...opts,
  });
}

async function drain(s: QualysStream): Promise<{ text: string; pieces: number }> {
  let text = '';
  let pieces = 0;
  for await (const piece of s.chunks) {
    text += piece;
    pieces++;
  }
  return { text, pieces };
}

/** A fetch whose response bodies arrive `size` bytes at a time (characters split across pieces). */
function rechunked(size: number, after?: (i: number) => Promise<void>): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    if (!res.body) return res;
    const bytes = new Uint8Array(await res.arrayBuffer());
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        await after?.(i);
        if (i >= bytes.length) return c.close();
        c.enqueue(bytes.subarray(i, (i += size)));
      },
    });
    const headers = new Headers(res.headers);
    headers.delete('content-encoding');
    return new Response(body, { status: res.status, headers });
  };
}

const clear = () => {
  sim.faults.clear();
  sim.setMutator(undefined);
};

describe('openStream', () => {
  it('gives the same text as a whole read, in pieces', async () => {
    clear();
    const c = client();
    const whole = (await c.request(PCI)).text;
    const s = await c.openStream(PCI);
    expect(s.status).toBe(200);
    expect(s.headers.get('content-type')).toBe('application/json');
    expect((await drain(s)).text).toBe(whole);
  });

  it('decodes characters split across network chunks (one byte at a time), never a replacement character', async () => {
    clear();
    const text = '{"data":{"totalCount":1,"scanInfoList":[{"scanId":1,"title":"é 中 😀 ∑"}]}}';
    sim.setMutator(({ path }) =>
      path.startsWith('/pci/')
        ? withBody({ status: 200, headers: [['content-type', 'application/json']], body: '' }, text)
        : undefined,
    );
    const { text: got, pieces } = await drain(await client({ fetch: rechunked(1) }).openStream(PCI));
    expect(got).toBe(text);
    expect(pieces).toBeGreaterThan(20);
  });

  it('waits out a rate limit and refreshes a token before the body, as call does', async () => {
    clear();
    sim.faults.add({ kind: 'rate-limit', path: '/sem/', waitSec: 1 });
    sim.faults.add({ kind: 'expire-token', path: '/sem/' });
    const sleeps: number[] = [];
    const c = client({ sleep: async (ms) => void sleeps.push(ms) });
    const s = await c.openStream({ url: '/sem/v1/assetList', query: { action: 'list' }, accept: 'xml' });
    expect((await drain(s)).text).toContain('<ASSET_LIST_VM_DETECTION_OUTPUT>');
    expect(sleeps).toEqual([1000]);
    expect(c.stats()).toMatchObject({ rateLimited: 1, tokenRefreshes: 1 });
  });

  it('a redirect is refused before any body, and nothing reaches its target', async () => {
    clear();
    sim.faults.add({ kind: 'redirect', path: '/pci/', url: other.url, status: 302 });
    await expect(client().openStream(PCI)).rejects.toThrow(PolicyError);
    expect(other.requests).toEqual([]);
  });

  it('a wrong charset is retried like an unreadable body, then fails naming it', async () => {
    clear();
    sim.setMutator(({ path, reply }) =>
      path.startsWith('/pci/')
        ? withHeader(reply, 'content-type', 'application/json; charset=windows-1252')
        : undefined,
    );
    const err = (await client()
      .openStream(PCI)
      .catch((e: unknown) => e)) as QualysHttpError;
    expect(err).toBeInstanceOf(QualysHttpError);
    expect(err.message).toMatch(/giving up after 3 attempts.*charset 'windows-1252'/);
  });

  it('a body past the decoded bound fails from the iterator, after what came within it', async () => {
    clear();
    sim.setMutator(({ path, reply }) =>
      path.startsWith('/pci/')
        ? withHeader(withBody(reply, bodyText(reply) + ' '.repeat(300_000)), 'content-length', undefined)
        : undefined,
    );
    const s = await client({ limits: { maxResponseBytes: 1e9, maxDecodedBytes: 100_000 } }).openStream(PCI);
    let got = 0;
    const err = await (async () => {
      for await (const piece of s.chunks) got += piece.length;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyError);
    expect((err as PolicyError).code).toBe('too-large');
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThanOrEqual(100_000);
  });

  it('bytes that are not UTF-8 fail from the iterator as unreadable (ParseError)', async () => {
    clear();
    sim.setMutator(({ path, reply }) =>
      path.startsWith('/pci/')
        ? withBody(
            reply,
            Buffer.concat([
              Buffer.from(bodyText(reply).slice(0, -3)),
              Buffer.from([0xc3, 0x28]),
              Buffer.from('}}}'),
            ]),
          )
        : undefined,
    );
    const s = await client().openStream(PCI);
    await expect(drain(s)).rejects.toThrow(ParseError);
  });

  it('a body that stalls longer than the request timeout fails from the iterator (StreamError: read on)', async () => {
    clear();
    const stall = (i: number) => (i >= 10 ? new Promise<void>(() => {}) : Promise.resolve());
    const s = await client({ timeoutMs: 200, fetch: rechunked(5, stall) }).openStream(PCI);
    const err = (await drain(s).catch((e: unknown) => e)) as Error;
    // Transient, like a reset mid-way: a pager reads on from the last record it handed over.
    expect(err).toBeInstanceOf(StreamError);
    expect(err.message).toMatch(/the body failed mid-way: .*no data for 200 ms while reading the body/);
  });

  it('holds its concurrency slot until the body is consumed or cancelled', async () => {
    clear();
    const c = client({ concurrency: 1 });
    const first = await c.openStream(PCI);
    const seen = () => sim.stats().byPath['/pci/scan/list'] ?? 0;
    const before = seen();
    let second: QualysStream | undefined;
    const pending = c.openStream(PCI).then((s) => (second = s));
    await new Promise((r) => setTimeout(r, 100));
    expect(second).toBeUndefined();
    expect(seen()).toBe(before); // not even sent
    first.cancel();
    await pending;
    expect(seen()).toBe(before + 1);
    // Consumed to its end, the slot is free again.
    await drain(second!);
    const third = await c.openStream(PCI);
    await drain(third);
    expect(seen()).toBe(before + 2);
  });
});
