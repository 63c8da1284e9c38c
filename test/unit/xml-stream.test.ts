// The record splitter (shared/modules/xml-stream.ts) and the truncation paginator's stream handling: a body cut
// into chunks at every position reads the same; what can hide a tag is understood; a body that fails mid-way is read
// on from the last record handed over.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IncompleteError, ParseError, StreamError } from '../../shared/errors';
import { loadConfig } from '../../shared/config';
import { vmdrDetections } from '../../shared/modules/vmdr-detections';
import { knowledgebase } from '../../shared/modules/knowledgebase';
import { parseXml } from '../../shared/modules/xml';
import { RecordSplitter, splitEnvelope } from '../../shared/modules/xml-stream';
import { readAhead } from '../../shared/modules/xml-truncation';
import type { ExportRecord, ModuleDef } from '../../shared/modules/types';
import { VMDR_HOST_DETECTIONS } from '../../shared/qualys/envelopes';
import { differences } from '../../shared/qualys/shapes';
import type { QualysClient, QualysRequest, QualysStream } from '../../shared/qualys/types';
import { fakeClient } from '../support/fake-client';
import { EXPORTER_HLD_VIEW, VMDR_CDATA, vmdrHost, xmlOf } from '../sim/vmdr';

const PATH = ['HOST_LIST_VM_DETECTION_OUTPUT', 'RESPONSE', 'HOST_LIST', 'HOST'];
const host = (i: number) => vmdrHost(3, i, {}, { ...EXPORTER_HLD_VIEW, version: '5.0' }, 50)!;

function body(hosts: ExportRecord[], extra = '', cdata = true): string {
  return (
    '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "x.dtd">\n' +
    '<HOST_LIST_VM_DETECTION_OUTPUT><!-- a <HOST> in a comment --><?pi <HOST>?>\n<RESPONSE><DATETIME>2026-01-01T00:00:00Z</DATETIME>' +
    `<HOST_LIST>${hosts.map((h) => xmlOf('HOST', h, VMDR_CDATA, cdata)).join('\n')}</HOST_LIST>${extra}</RESPONSE></HOST_LIST_VM_DETECTION_OUTPUT>\n`
  );
}

/** Splits `text` fed in the given chunks; the records parsed, and the envelope. */
function split(chunks: string[]) {
  const s = new RecordSplitter(PATH, 'test');
  const records: unknown[] = [];
  for (const c of chunks) {
    s.push(c);
    for (let t = s.take(); t !== undefined; t = s.take()) {
      records.push(parseXml(t, { lists: new Set(['TAG', 'QDS_FACTOR']) }).HOST);
    }
  }
  return { records, envelope: s.end() };
}

describe('RecordSplitter', () => {
  const hosts = [host(0), host(1), host(2)];
  const text = body(hosts);

  it('gives back every record exactly, and the envelope without them', () => {
    const { records, envelope } = split([text]);
    expect(records).toEqual(hosts);
    // The RESULTS text holds "</HOST>" and "<tag>" inside CDATA; DNS_DATA has a HOSTNAME element.
    expect(JSON.stringify(hosts)).toContain('</HOST>');
    expect(text).toContain('<HOSTNAME>');
    const doc = parseXml(envelope) as { HOST_LIST_VM_DETECTION_OUTPUT: { RESPONSE: { HOST_LIST: string } } };
    expect(doc.HOST_LIST_VM_DETECTION_OUTPUT.RESPONSE.HOST_LIST).toBe('');
    expect(envelope.length + records.length * 0).toBeLessThan(400);
  });

  it('reads the same whatever the chunk boundaries (every cut point, and random chunkings)', () => {
    for (let cut = 1; cut < text.length; cut += 3) {
      expect(split([text.slice(0, cut), text.slice(cut)]).records).toEqual(hosts);
    }
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [...new Set(cuts)].sort((a, b) => a - b);
        const chunks = [0, ...points].map((p, k) => text.slice(p, points[k] ?? text.length));
        expect(split(chunks).records).toEqual(hosts);
      }),
      { numRuns: 200 },
    );
  });

  it('text instead of CDATA reads the same', () => {
    expect(split([body(hosts, '', false)]).records).toEqual(hosts);
  });

  it('a record cut short is an error, never a shorter record', () => {
    const at = text.indexOf('</HOST>') - 5;
    const s = new RecordSplitter(PATH, 'test');
    s.push(text.slice(0, at));
    expect(() => s.end()).toThrow(/ends inside a <HOST> record/);
  });

  it('a repeated RESPONSE or HOST_LIST is refused as it opens, before its records are handed over', () => {
    const twice = text.replace(
      '</HOST_LIST>',
      `</HOST_LIST><HOST_LIST>${xmlOf('HOST', host(3), VMDR_CDATA, true)}</HOST_LIST>`,
    );
    expect(() => split([twice])).toThrow(/<HOST_LIST> came twice in <RESPONSE>/);
    const second = text.replace(
      '</RESPONSE>',
      `</RESPONSE><RESPONSE><HOST_LIST>${xmlOf('HOST', host(3), VMDR_CDATA, true)}</HOST_LIST></RESPONSE>`,
    );
    expect(() => split([second])).toThrow(/<RESPONSE> came twice/);
  });

  it('a nested element of the record name ends the record at its own end tag', () => {
    const nested = text.replace('<IP>', '<HOST><ID>9</ID></HOST><IP>');
    expect(() => split([nested])).not.toThrow();
  });

  it('the envelope is bounded', () => {
    const s = new RecordSplitter(PATH, 'test');
    expect(() => s.push(`<HOST_LIST_VM_DETECTION_OUTPUT><RESPONSE>${'x'.repeat(1_100_000)}`)).toThrow(
      ParseError,
    );
  });
});

describe('splitEnvelope: one declared shape, checked in two halves', () => {
  const { envelope, record } = splitEnvelope(VMDR_HOST_DETECTIONS, PATH);
  it('the records leave an empty list, the WARNING and DATETIME stay', () => {
    const doc = parseXml(
      split([body([host(0)], '<WARNING><CODE>1980</CODE><URL>u</URL></WARNING>')]).envelope,
    );
    expect(differences(envelope.body, doc)).toEqual([]);
    expect(differences(record, host(0))).toEqual([]);
    expect(differences(record, { IP: '1.2.3.4' })).toEqual([
      'ID: missing (expected an id (a non-empty string or an integer))',
    ]);
  });
});

// ------------------------------------------------------------------------------------------ paginator

const GW = 'https://api.example.com';
const config = loadConfig({
  QUALYS_GATEWAY_URL: GW,
  QUALYS_API_URL: GW,
  QUALYS_VMDR_TRUNCATION_LIMIT: '4',
  QUALYS_VMDR_API_VERSION: '5.0',
  QEXPORT_XML_SUBPAGE_KB: '1',
});

/** Answers each request with the hosts from its id_min, 4 per response; `breakAt` cuts chosen responses mid-way. */
function hostServer(hosts: ExportRecord[], opts: { breakAt?: (n: number) => number | undefined } = {}) {
  const asked: QualysRequest[] = [];
  const client: QualysClient = {
    ...fakeClient({ call: () => Promise.reject(new Error('unused')) }),
    openStream: async (req): Promise<QualysStream> => {
      asked.push(req);
      const idMin = Number(req.form?.id_min ?? 0);
      const from = hosts.filter((h) => Number(h.ID) >= idMin);
      const page = from.slice(0, 4);
      const more = from.length > 4;
      const warning = more
        ? `<WARNING><CODE>1980</CODE><URL><![CDATA[${GW}/api/5.0/fo/asset/host/vm/detection/?action=list&id_min=${from[4]!.ID}]]></URL></WARNING>`
        : '';
      const text = body(page, warning);
      const cut = opts.breakAt?.(asked.length);
      return {
        status: 200,
        headers: new Headers(),
        url: `${GW}/x`,
        chunks: (async function* () {
          if (cut === undefined) {
            yield text;
            return;
          }
          yield text.slice(0, cut);
          throw new StreamError('connection reset mid-way');
        })(),
        cancel: () => undefined,
      };
    },
  };
  return { client, asked };
}

async function readAll(module: ModuleDef, client: QualysClient) {
  const cursor = module.start({ config, now: new Date('2026-01-02T00:00:00Z'), committed: undefined });
  const ids: string[] = [];
  let last;
  for await (const page of module.pages(client, cursor, config)) {
    ids.push(...page.records.map((r) => module.identity.key(r)));
    last = page;
  }
  return { ids, last: last! };
}

describe('the truncation paginator reads streams', () => {
  const hosts = Array.from({ length: 10 }, (_, i) => host(i + (i >= 7 ? 1 : 0)));
  const all = hosts.map((h) => String(h.ID));

  it('a body that fails mid-way is read on from the last record handed over, not from its start', async () => {
    // The second response breaks after its second host.
    const second = body(hosts.slice(4, 8));
    // Records end with '</HOST>\n' (a RESULTS text may hold '</HOST>' too): cut 5 characters into the third host.
    const cutAt = second.indexOf('</HOST>\n', second.indexOf('</HOST>\n') + 1) + 8 + 5;
    const { client, asked } = hostServer(hosts, { breakAt: (n) => (n === 2 ? cutAt : undefined) });
    const { ids, last } = await readAll(vmdrDetections, client);
    expect(ids).toEqual(all);
    expect(last.done).toBe(true);
    const idMins = asked.map((r) => r.form?.id_min ?? null);
    // After the break: on from the host after the last one handed over (a 1 KB sub-page holds one host).
    expect(idMins).toEqual([null, hosts[4]!.ID, String(Number(hosts[5]!.ID) + 1)]);
  });

  it('gives up after the retry budget, naming the failure', async () => {
    const { client } = hostServer(hosts, { breakAt: () => 30 });
    await expect(readAll(vmdrDetections, client)).rejects.toThrow(StreamError);
  });

  it('every request is POSTed with our parameters; id_min comes from the URL only', async () => {
    const { client, asked } = hostServer(hosts);
    await readAll(vmdrDetections, client);
    for (const r of asked) {
      expect(r.method).toBe('POST');
      expect(r.url).toBe('/api/5.0/fo/asset/host/vm/detection/');
      expect(r.form).toMatchObject({
        action: 'list',
        truncation_limit: '4',
        status: 'New,Active,Fixed,Re-Opened',
      });
    }
  });

  it('KnowledgeBase VULNs out of QID order after the run relied on the order: read again', async () => {
    const vulns = (qids: number[]) =>
      '<KNOWLEDGE_BASE_VULN_LIST_OUTPUT><RESPONSE><VULN_LIST>' +
      qids.map((q) => `<VULN><QID>${q}</QID><TITLE>t</TITLE></VULN>`).join('') +
      '</VULN_LIST></RESPONSE></KNOWLEDGE_BASE_VULN_LIST_OUTPUT>';
    const client: QualysClient = {
      ...fakeClient({ call: () => Promise.reject(new Error('unused')) }),
      openStream: async () => ({
        status: 200,
        headers: new Headers(),
        url: GW,
        chunks: (async function* () {
          yield vulns([10, 20, 5]);
        })(),
        cancel: () => undefined,
      }),
    };
    const cfg = loadConfig({ QUALYS_GATEWAY_URL: GW, QUALYS_API_URL: GW, QUALYS_KB_API_VERSION: '4.0' });
    const start = knowledgebase.start({ config: cfg, now: new Date(), committed: undefined });
    // Read whole in one response: unordered is fine (nothing depended on the order).
    const ids: string[] = [];
    for await (const p of knowledgebase.pages(client, start, cfg))
      ids.push(...p.records.map((r) => String(r.QID)));
    expect(ids).toEqual(['10', '20', '5']);
    // Resumed inside the response by id: the order was relied on, so an out-of-order QID means read again.
    const resumed = { ...start, mid: true, idMin: '1', lastId: '8' };
    await expect(async () => {
      for await (const _ of knowledgebase.pages(client, resumed, cfg)) void _;
    }).rejects.toThrow(IncompleteError);
  });
});

describe('readAhead', () => {
  it('yields every chunk in order, keeps at most about `max` characters ahead, and reports an error after the chunks before it', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 10; i++) {
        pulled++;
        yield `c${i}-`.padEnd(10, '.');
      }
      throw new StreamError('reset after ten chunks');
    }
    const it = readAhead(source(), 30)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value).toMatch(/^c0-/);
    await new Promise((r) => setTimeout(r, 10));
    // The consumer holds one chunk; the pump stopped once 30 characters (3 chunks) waited.
    expect(pulled).toBeLessThanOrEqual(5);
    const got = [first.value as string];
    await expect(
      (async () => {
        for (let r = await it.next(); !r.done; r = await it.next()) got.push(r.value);
      })(),
    ).rejects.toThrow(/reset after ten chunks/);
    expect(got.map((c) => c.slice(0, 3))).toEqual(Array.from({ length: 10 }, (_, i) => `c${i}-`));
  });
});
