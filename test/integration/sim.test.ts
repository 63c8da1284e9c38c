import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../sim';

/** The doc samples (../shared/reference/qualys-docs), with their documented typos fixed. */
const PCI_SAMPLE = {
  scanId: 9094,
  title: 'a',
  status: 'Failed',
  date: 'December 18, 2020 at 07:54 AM GMT',
  scanType: 'DNS',
  compliance: 'Fail',
  scanModule: 'x',
};
const CERT_SAMPLE = {
  keySize: 2048,
  subject: {
    organization: 'Qualys, Inc.',
    locality: 'Foster City',
    name: 'www.qualys.com',
    state: 'California',
    country: 'US',
    organizationUnit: [],
  },
  validFrom: 1676246400000,
  signatureAlgorithm: 'SHA256withRSA',
  issuer: {
    organization: 'DigiCert Inc',
    organizationUnit: ['www.digicert.com'],
    name: 'n',
    country: 'US',
    state: '',
    certhash: 'h',
    locality: '',
  },
  rootissuer: {
    organization: 'DigiCert Inc',
    organizationUnit: ['www.digicert.com'],
    name: 'n',
    country: 'US',
    state: '',
    certhash: 'h',
    locality: '',
  },
  instanceCount: 2,
  dn: 'CN=www.qualys.com',
  certhash: 'h',
  assets: [
    {
      netbiosName: '',
      assetId: 'a',
      name: 'qualys.com',
      operatingSystem: 'NetScaler',
      tags: [{ name: 'Internet Facing Assets', uuid: 'u' }],
      primaryIp: '64.39.0.1',
      hostInstances: [
        {
          protocol: 'tcp',
          sslProtocols: ['TLSv1.2'],
          port: 443,
          grade: 'A',
          service: 'http',
          vulnerabilities: [],
          vulnCount: 0,
        },
      ],
      created: 1680247510486,
      updated: 1680247131000,
      assetInterfaces: [{ hostname: 'qualys.com', address: '64.39.0.1' }],
      certificateCount: 0,
    },
  ],
  selfSigned: false,
  validTo: 1707868799000,
  issuerCategory: 'c',
  subjectAlternativeNames: { 'DNS Name': ['www.qualys.com'], 'IP Address': null },
  lastFound: 1680256864611,
  extendedValidation: true,
  sources: ['VM', 'QAGENT'],
};
const EDR_SAMPLE = {
  dateTime: '2020-08-17T04:15:06.000+0000',
  process: {
    fullPath: 'C:\\x.exe',
    parentProcessName: 'svchost.exe',
    processFile: {
      fullPath: 'C:\\x.exe',
      path: 'C:\\',
      sha256: 's',
      size: 756736,
      moduleName: 'x.exe',
      md5: 'm',
    },
    processEventId: 'RTP_x',
    processName: 'x.exe',
    elevated: true,
    parentPid: 912,
    arguments: '-a',
    pid: 6008,
    parentEventId: 'RTP_y',
    userName: 'u',
    integrityLevel: 'ML_LOW',
  },
  eventProcessedTime: '2023-01-17T02:41:25.383+0000',
  eventSource: 'EDR',
  indicator2: [{ score: '0', sha256: 's', verdict: 'KNOWN', rowId: '4184411994868091297' }],
  type: 'MUTEX',
  score: '0',
  scoreSource: 'REVERSING_LAB',
  action: 'RUNNING',
  id: 'RTM_x',
  asset: {
    fullOSName: 'w',
    hostName: 'h',
    agentId: 'a',
    interfaces: [{ macAddress: 'm', ipAddress: 'i', interfaceName: 'n', gatewayAddress: 'g' }],
    netBiosName: 'n',
    isQuarantineHost: false,
    customerId: 'c',
    platform: 'Windows',
    assetType: 'HOST',
    tags: [{ name: 'Cloud Agent', uuid: 'u' }],
  },
  uniqueId: '-x',
  mutex: { mutexName: 'm' },
};

/** Key set, nesting and JSON types of a value, for comparing shapes. */
function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length ? ['array', shape(v[0])] : ['array'];
  if (v === null) return 'null';
  if (typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v as object)
        .map(([k, x]) => [k, shape(x)])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
    );
  return typeof v;
}

// Test-side view of untyped JSON bodies.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
const json = async (r: Response | Promise<Response>): Promise<Json> => (await r).json();

let sim: Simulator;
let token: string;
const get = (path: string, init: RequestInit = {}) =>
  fetch(`${sim.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) },
  });

beforeAll(async () => {
  sim = await startSimulator({ counts: { pci: 25, certview: 450, edr: 1000, mobile: 30 } });
  const r = await fetch(`${sim.url}/auth/oidc`, {
    method: 'POST',
    headers: { clientId: sim.defaults.clientId, clientSecret: sim.defaults.clientSecret },
  });
  token = await r.text();
});
afterAll(async () => {
  await sim.close();
});

describe('documented shapes', () => {
  it('PCI scan list: responseApiVersion, totalCount, 1-based inclusive fetchRange, scans like the sample', async () => {
    const j = await json(get('/pci/scan/list?offset=11&limit=10'));
    expect(j.data.totalCount).toBe(25);
    expect(j.data.fetchRange).toBe('11-20');
    expect(j.data.scanInfoList).toHaveLength(10);
    expect(shape(j.data.scanInfoList[0])).toEqual(shape(PCI_SAMPLE));
    expect(j.data.scanInfoList[0].date).toMatch(/^[A-Z][a-z]+ \d{1,2}, \d{4} at \d\d:\d\d (AM|PM) GMT$/);
  });

  it('CertView: a top-level array of certificates shaped like the sample (plus id)', async () => {
    const r = await get('/certview/v2/certificates', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"pageNumber":2,"pageSize":200}',
    });
    const list = await json(r);
    expect(list).toHaveLength(50);
    const { id, ...rest } = list[0];
    expect(id).toBe(50_400);
    expect(shape(rest)).toEqual(shape(CERT_SAMPLE));
  });

  it('EDR: {data, scrollId} events shaped like the sample; scrolling ends with empty data', async () => {
    const sort = encodeURIComponent('[{"event.datetime":"asc"}]');
    const first = await json(get(`/ioc/events/scroll?filter=type:MUTEX&pageSize=50&sort=${sort}`));
    const mutex = first.data[0];
    expect(shape(mutex)).toEqual(shape(EDR_SAMPLE));
    expect(mutex.dateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$/);
    let ids: string[] = first.data.map((e: { id: string }) => e.id);
    let page = first;
    while (page.data.length) {
      page = await json(get(`/ioc/events/scroll?scrollId=${page.scrollId}`));
      ids = ids.concat(page.data.map((e: { id: string }) => e.id));
    }
    expect(ids).toEqual([...sim.expectedIds('edr-events', { filter: 'type:MUTEX' })]);
  });

  it('Mobile: the documented XML with WARNING 1980 and a CDATA URL carrying id_min', async () => {
    const text = await (await get('/sem/v1/assetList?action=list&truncation_limit=1')).text();
    expect(text).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<!DOCTYPE ASSET_LIST_VM_DETECTION_OUTPUT SYSTEM/,
    );
    expect(text).toContain('<ASSET_LIST><ASSET><ID>231</ID>');
    expect(text).toMatch(
      /<WARNING><CODE>1980<\/CODE><TEXT>1 record limit exceeded\. Use URL to get next batch of results\.<\/TEXT><URL><!\[CDATA\[http:\/\/127\.0\.0\.1:\d+\/sem\/v1\/assetList\?[^\]]*id_min=234[^\]]*\]\]><\/URL><\/WARNING>/,
    );
    for (const tag of [
      'IP',
      'IPV6',
      'ASSET_FRIENDLY_NAME',
      'OS',
      'OS_VERSION',
      'ASSET_STATUS',
      'LAST_SEEN',
      'OWNERSHIP',
      'MODEL_NAME',
      'MANUFACTURER',
      'USERNAME',
    ]) {
      expect(text).toContain(`<${tag}>`);
    }
  });
});

describe('auth', () => {
  it('401 with the documented bodies', async () => {
    const none = await fetch(`${sim.url}/pci/scan/list`);
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ status: 401, error: 'Unauthorized', message: 'Not authenticated' });
    const expired = await fetch(`${sim.url}/pci/scan/list`, {
      headers: { authorization: `Bearer ${await sim.issueToken({ ttlSec: -1 })}` },
    });
    expect(await expired.json()).toMatchObject({ message: 'JWT expired' });
    const forged = await fetch(`${sim.url}/pci/scan/list`, {
      headers: { authorization: `Bearer ${await sim.issueToken({ foreignKey: true })}` },
    });
    expect(forged.status).toBe(401);
  });

  it('basic auth answers 201 with a bare JWT; the IdP answers OAuth2 JSON', async () => {
    const basic = await fetch(`${sim.url}/auth`, {
      method: 'POST',
      body: new URLSearchParams({ username: 'demo', password: 'demo-password', token: 'true' }),
    });
    expect(basic.status).toBe(201);
    expect(await basic.text()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const idp = await fetch(sim.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'demo',
        password: 'demo-password',
        client_id: 'qexport-demo',
        scope: 'openid profile',
      }),
    });
    expect(Object.keys(await json(idp)).sort()).toEqual([
      'access_token',
      'expires_in',
      'id_token',
      'scope',
      'token_type',
    ]);
    const bad = await fetch(sim.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'password',
        username: 'demo',
        password: 'x',
        client_id: 'qexport-demo',
      }),
    });
    expect(await bad.json()).toMatchObject({ error: 'invalid_grant' });
  });
});

describe('bad requests get 400 with a message, never a crash', () => {
  it.each([
    ['/pci/scan/list?limit=abc', /limit/],
    ['/pci/scan/list?limit=5000', /limit/],
    ['/ioc/events/scroll?scrollId=nope', /expired or is invalid/],
    ['/ioc/events/scroll?filter=bogus:1', /unsupported filter/],
    ['/sem/v1/assetList', /action/],
    ['/sem/v1/assetList?action=list&truncation_limit=-1', /truncation_limit/],
  ])('%s', async (path, pattern) => {
    const r = await get(path);
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(pattern);
  });

  it('CertView pageSize above 200, bad JSON, and v1 past 10,000', async () => {
    const post = (path: string, body: string) =>
      get(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect((await post('/certview/v2/certificates', '{"pageSize":500}')).status).toBe(400);
    expect((await post('/certview/v2/certificates', '{oops')).status).toBe(400);
    const v1 = await post('/certview/v1/certificates', '{"pageNumber":50,"pageSize":200}');
    expect(v1.status).toBe(400);
    expect(await v1.text()).toMatch(/10,000/);
    expect((await get('/nope')).status).toBe(404);
  });
});

describe('limits', () => {
  it('rate limit: headers on every response, then 409 SIMPLE_RETURN 1965 on classic paths and 429 on gateway paths', async () => {
    const s = await startSimulator({
      counts: { pci: 5 },
      limits: { rate: { calls: 2, windowSec: 60 }, concurrency: 2 },
    });
    try {
      const t = await s.issueToken();
      const h = { authorization: `Bearer ${t}` };
      const ok = await fetch(`${s.url}/pci/scan/list`, { headers: h });
      expect(ok.headers.get('x-ratelimit-limit')).toBe('2');
      expect(ok.headers.get('x-ratelimit-window-sec')).toBe('60');
      expect(ok.headers.get('x-ratelimit-remaining')).toBe('1');
      expect(ok.headers.get('x-concurrency-limit-limit')).toBe('2');
      await fetch(`${s.url}/pci/scan/list`, { headers: h });
      const blocked = await fetch(`${s.url}/pci/scan/list`, { headers: h });
      expect(blocked.status).toBe(409);
      expect(Number(blocked.headers.get('x-ratelimit-towait-sec'))).toBeGreaterThan(0);
      expect(await blocked.text()).toMatch(/<SIMPLE_RETURN>.*<CODE>1965<\/CODE>/s);
      const gw = await fetch(`${s.url}/ioc/events/scroll`, { headers: h });
      expect(gw.status).toBe(429);
    } finally {
      await s.close();
    }
  });

  it('concurrency limit: a third parallel call gets 1960', async () => {
    const s = await startSimulator({ counts: { pci: 5 }, latencyMs: 200, limits: { concurrency: 2 } });
    try {
      const h = { authorization: `Bearer ${await s.issueToken()}` };
      const statuses = await Promise.all(
        [0, 1, 2].map(() =>
          fetch(`${s.url}/sem/v1/assetList?action=list`, { headers: h }).then(
            async (r) => [r.status, await r.text()] as const,
          ),
        ),
      );
      const rejected = statuses.filter(([st]) => st === 409);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]![1]).toContain('<CODE>1960</CODE>');
      expect(s.stats().rejected).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('data at scale', () => {
  it('describes a million records without holding them', async () => {
    const s = await startSimulator({ counts: { edr: 1_000_000 } });
    try {
      const before = process.memoryUsage().heapUsed;
      let n = 0;
      let last = '';
      for (const id of s.expectedIds('edr-events')) {
        n++;
        last = id;
      }
      expect(n).toBe(1_000_000);
      expect(last).toMatch(/^RTM_00000f423f-/);
      expect(process.memoryUsage().heapUsed - before).toBeLessThan(100 * 1024 * 1024);
    } finally {
      await s.close();
    }
  });
});
