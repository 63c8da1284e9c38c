import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPart } from '../../shared/sink/part-writer';
import type { ObjectStore } from '../../shared/sink/types';
import { startSimulator, type Simulator } from '../sim';
import { readRunFromDir, runUntilSettled, simConfig, tempStore, testClient } from '../support/harness';

/** gzip's XFL header byte: zlib writes 2 for level 9, 4 for level 1, 0 otherwise (RFC 1952 §2.3.1). */
const xfl = (gz: Buffer) => gz[8];

/** Only what the part writer uses: streamed objects kept in memory. */
function memoryStore(): ObjectStore & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  const store: Pick<ObjectStore, 'putStream' | 'describe'> = {
    async putStream(key: string, body: Readable) {
      const chunks: Buffer[] = [];
      for await (const c of body) chunks.push(c as Buffer);
      objects.set(key, Buffer.concat(chunks));
    },
    describe: (key: string) => `memory:${key}`,
  };
  return Object.assign(store as ObjectStore, { objects });
}

describe('gzip level', () => {
  it('the part writer compresses at the level it is given; the content is the same at every level', async () => {
    const store = memoryStore();
    const records = Array.from({ length: 2000 }, (_, i) => ({ id: String(i), text: `value ${i % 97}` }));
    const infos = [];
    for (const level of [1, 6, 9]) {
      const part = openPart(store, `l${level}`, { gzipLevel: level });
      await part.writePage(records);
      infos.push(await part.close());
    }
    const [l1, l6, l9] = ['l1', 'l6', 'l9'].map((k) => store.objects.get(k)!);
    expect([xfl(l1!), xfl(l6!), xfl(l9!)]).toEqual([4, 0, 2]);
    expect(gunzipSync(l1!).equals(gunzipSync(l9!))).toBe(true);
    expect(infos.map((i) => i.rawBytes)).toEqual([
      infos[0]!.rawBytes,
      infos[0]!.rawBytes,
      infos[0]!.rawBytes,
    ]);
  });

  it('refuses a level zlib would reject or silently clamp', () => {
    for (const bad of [0, 10, 2.5, Number.NaN]) {
      expect(() => openPart(memoryStore(), 'x', { gzipLevel: bad })).toThrow(
        /gzip level must be a whole number from 1 to 9/,
      );
    }
  });
});

describe('QEXPORT_GZIP_LEVEL through an export', () => {
  let sim: Simulator;
  const dirs: string[] = [];
  beforeAll(async () => {
    sim = await startSimulator({ counts: { pci: 60 } });
  });
  afterAll(async () => {
    await sim.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it.each([
    ['1', 4],
    ['9', 2],
  ])('level %s reaches every stored part', async (level, flag) => {
    const config = simConfig(sim, { QEXPORT_GZIP_LEVEL: level });
    const { dir, store } = await tempStore();
    dirs.push(dir);
    const { result } = await runUntilSettled('pci-scans', config, testClient(sim, config), store);
    expect(result.status).toBe('done');
    const run = await readRunFromDir(dir, result.manifestKey!);
    expect(run.records).toHaveLength(60);
    expect(run.manifest.parts.length).toBeGreaterThan(1);
    for (const p of run.manifest.parts) expect(xfl(await readFile(join(dir, p.key)))).toBe(flag);
  });
});
