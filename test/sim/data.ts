/**
 * Deterministic data generator for the simulator: record i of a module is a pure function of (seed, i), so
 * millions of records can be described without holding them in memory. Shapes follow the samples in the
 * Qualys documentation (see test/integration/sim-shapes.test.ts).
 */

/** 32-bit hash of (seed, stream, i) — a small, fast, well-mixed integer hash. */
export function hash32(seed: number, stream: number, i: number): number {
  let h = (seed ^ Math.imul(stream + 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 0x632be5ab, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

const pick = <T>(list: readonly T[], h: number): T => list[h % list.length]!;
const hex = (h: number, len = 8) => h.toString(16).padStart(8, '0').slice(0, len);
const uuid = (seed: number, stream: number, i: number) => {
  const a = hex(hash32(seed, stream, i));
  const b = hex(hash32(seed, stream + 1, i));
  const c = hex(hash32(seed, stream + 2, i));
  const d = hex(hash32(seed, stream + 3, i));
  return `${a}-${b.slice(0, 4)}-4${b.slice(5, 8)}-8${c.slice(1, 4)}-${c.slice(4)}${d}`;
};

// ---------------------------------------------------------------- PCI Merchant scans
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const PCI_STATUS = ['Finished', 'Failed', 'Running', 'Launch Requested', 'Canceled'];
const PCI_TYPES = ['DNS', 'IP'];
const PCI_COMPLIANCE = ['Pass', 'Fail'];
const PCI_MODULES = ['External', 'Internal'];

/** "December 18, 2020 at 07:54 AM GMT" */
export function pciDate(ms: number): string {
  const d = new Date(ms);
  const h = d.getUTCHours();
  const h12 = h % 12 === 0 ? 12 : h % 12;
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()} at ${pad(h12)}:${pad(d.getUTCMinutes())} ${h < 12 ? 'AM' : 'PM'} GMT`;
}

export const PCI_BASE_ID = 1000;
const PCI_EPOCH = Date.UTC(2020, 0, 1);

export function pciScan(seed: number, scanId: number) {
  const h = hash32(seed, 1, scanId);
  return {
    scanId,
    title: `scan ${scanId}`,
    status: pick(PCI_STATUS, h),
    date: pciDate(PCI_EPOCH + (scanId - PCI_BASE_ID) * 37 * 60_000),
    scanType: pick(PCI_TYPES, h >>> 3),
    compliance: pick(PCI_COMPLIANCE, h >>> 5),
    scanModule: pick(PCI_MODULES, h >>> 7),
  };
}

// ---------------------------------------------------------------- CertView certificates
const ORGS = ['Qualys, Inc.', 'Example Corp', 'Acme Ltd', 'Globex LLC'];
const CAS = [
  {
    organization: 'DigiCert Inc',
    name: 'DigiCert SHA2 Extended Validation Server CA',
    unit: 'www.digicert.com',
  },
  { organization: "Let's Encrypt", name: 'R3', unit: '' },
  { organization: 'Sectigo Limited', name: 'Sectigo RSA Domain Validation Secure Server CA', unit: '' },
];
export const CERT_BASE_ID = 50_000;
const CERT_EPOCH = Date.UTC(2023, 0, 1);

export function certificate(seed: number, index: number) {
  const id = CERT_BASE_ID + index;
  const h = hash32(seed, 2, index);
  const ca = pick(CAS, h);
  const host = `host${index}.example${h % 7}.com`;
  const certhash =
    hex(hash32(seed, 20, index)) +
    hex(hash32(seed, 21, index)) +
    hex(hash32(seed, 22, index)) +
    hex(hash32(seed, 23, index));
  const validFrom = CERT_EPOCH + (h % 400) * 86_400_000;
  return {
    id,
    keySize: pick([2048, 3072, 4096], h >>> 4),
    subject: {
      organization: pick(ORGS, h >>> 6),
      locality: 'Foster City',
      name: host,
      state: 'California',
      country: 'US',
      organizationUnit: [] as string[],
    },
    validFrom,
    signatureAlgorithm: 'SHA256withRSA',
    issuer: {
      organization: ca.organization,
      organizationUnit: ca.unit ? [ca.unit] : [],
      name: ca.name,
      country: 'US',
      state: '',
      certhash: `${hex(hash32(seed, 24, h % 3))}${'0'.repeat(56)}`,
      locality: '',
    },
    rootissuer: {
      organization: ca.organization,
      organizationUnit: ca.unit ? [ca.unit] : [],
      name: `${ca.organization} Root CA`,
      country: 'US',
      state: '',
      certhash: `${hex(hash32(seed, 25, h % 3))}${'f'.repeat(56)}`,
      locality: '',
    },
    instanceCount: 1 + (h % 3),
    dn: `CN=${host}, O="${pick(ORGS, h >>> 6)}", L=Foster City, ST=California, C=US`,
    certhash,
    assets: [
      {
        netbiosName: '',
        assetId: uuid(seed, 30, index),
        name: host,
        operatingSystem: pick(['NetScaler', 'Linux', 'Windows Server 2019'], h >>> 8),
        tags: [{ name: 'Internet Facing Assets', uuid: uuid(seed, 40, h % 5) }],
        primaryIp: `10.${(h >>> 8) & 255}.${(h >>> 16) & 255}.${index & 255}`,
        hostInstances: [
          {
            protocol: 'tcp',
            sslProtocols: ['TLSv1.2'],
            port: 443,
            grade: pick(['A', 'A+', 'B', 'C'], h >>> 10),
            service: 'http',
            vulnerabilities: [] as unknown[],
            vulnCount: 0,
          },
        ],
        created: validFrom + 3_600_000,
        updated: validFrom + 7_200_000,
        assetInterfaces: [
          { hostname: host, address: `10.${(h >>> 8) & 255}.${(h >>> 16) & 255}.${index & 255}` },
        ],
        certificateCount: 0,
      },
    ],
    selfSigned: h % 11 === 0,
    validTo: validFrom + 365 * 86_400_000,
    issuerCategory: ca.name,
    subjectAlternativeNames: { 'DNS Name': [host, `www.${host}`], 'IP Address': null },
    lastFound: validFrom + 86_400_000,
    extendedValidation: h % 2 === 0,
    sources: ['VM', 'QAGENT'],
  };
}

/** Certificate i sits on an unmanaged (external) asset: listed only with `assetType: ALL` where the tenant
 * defaults to managed assets. */
export function certUnmanaged(seed: number, index: number): boolean {
  return hash32(seed, 26, index) % 4 === 0;
}

/** Certificate i is not visible to the API user (filtered out after paging in the filter-after-page dialect). */
export function certHidden(seed: number, index: number): boolean {
  return hash32(seed, 27, index) % 7 === 0;
}

// ---------------------------------------------------------------- EDR events
export const EDR_TYPES = ['MUTEX', 'FILE', 'NETWORK', 'PROCESS', 'REGISTRY'] as const;

/** '2020-08-17T04:15:06.000+0000' */
export function edrDateTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

export interface EdrTimeline {
  startMs: number;
  stepMs: number;
  /** Events that share one dateTime (default 1). */
  perTick: number;
  /** Every `lateEvery`-th event (0 = none) comes from an agent that uploads `lateMs` late. */
  lateEvery?: number;
  lateMs?: number;
}

/** Processing delay of every event; a late agent's events add `lateMs` to it. */
export const EDR_PROCESSING_MS = 1500;

export function edrTimeMs(t: EdrTimeline, i: number): number {
  return t.startMs + Math.floor(i / t.perTick) * t.stepMs;
}

/** Extra delay of event i's upload (0 for punctual agents). */
export function edrLateMs(t: EdrTimeline, i: number): number {
  return t.lateEvery && t.lateMs && i % t.lateEvery === t.lateEvery - 1 ? t.lateMs : 0;
}

/** When Qualys processed event i (`eventProcessedTime`): agent time + processing + any upload delay. */
export function edrProcessedMs(t: EdrTimeline, i: number): number {
  return edrTimeMs(t, i) + EDR_PROCESSING_MS + edrLateMs(t, i);
}

export function edrType(seed: number, i: number): (typeof EDR_TYPES)[number] {
  return pick(EDR_TYPES, hash32(seed, 3, i));
}

/**
 * How an event's `id` looks. 'rtm' (the first build's): unique per event. The two forms of the recorded bodies
 * (qualys-api.md, "Third look"): 'per-day' `F_<uuid>_D-M-YYYY`, a per-day time-series id that every event of one
 * series on one day shares (here: 7 series, i mod 7); 'agent-number' `F_<agentId>_<number>`, unique, with the
 * per-day id beside it as `timeSeriesId`.
 */
export type EdrIdForm = 'rtm' | 'per-day' | 'agent-number';

/** Ids sort like the index within one dateTime, as the API sorts by (dateTime, id). */
export function edrId(seed: number, i: number): string {
  return `RTM_${i.toString(16).padStart(10, '0')}-${hex(hash32(seed, 4, i))}`;
}

/** 'F_<uuid>_10-2-2020': event i's series (i mod 7) on the UTC day of `ms` (day and month without padding). */
export function edrSeriesId(seed: number, i: number, ms: number): string {
  const d = new Date(ms);
  return `F_${uuid(seed, 40, i % 7)}_${d.getUTCDate()}-${d.getUTCMonth() + 1}-${d.getUTCFullYear()}`;
}

export function edrEvent(seed: number, t: EdrTimeline, i: number, idForm: EdrIdForm = 'rtm') {
  const h = hash32(seed, 5, i);
  const type = edrType(seed, i);
  const dateTime = edrDateTime(edrTimeMs(t, i));
  const pid = 1000 + (h % 60000);
  const exe = pick(['Microsoft.Photos.exe', 'svchost.exe', 'chrome.exe', 'powershell.exe'], h >>> 3);
  const event: Record<string, unknown> = {
    dateTime,
    process: {
      fullPath: `C:\\Program Files\\App${h % 9}\\${exe}`,
      parentProcessName: 'svchost.exe',
      processFile: {
        fullPath: `C:\\Program Files\\App${h % 9}\\${exe}`,
        path: `C:\\Program Files\\App${h % 9}`,
        sha256: hex(h) + hex(hash32(seed, 6, i)) + '0'.repeat(48),
        size: 4096 + (h % 1_000_000),
        moduleName: exe,
        md5: hex(hash32(seed, 7, i)) + '0'.repeat(24),
      },
      processEventId: `RTP_${uuid(seed, 50, i)}`,
      processName: exe,
      elevated: h % 2 === 0,
      parentPid: 4 + (h % 900),
      arguments: `-ServerName:App.${hex(h)}.mca`,
      pid,
      parentEventId: `RTP_${uuid(seed, 60, i)}`,
      userName: `DESKTOP-${hex(h, 6).toUpperCase()}\\Administrator`,
      integrityLevel: pick(['ML_LOW', 'ML_MEDIUM', 'ML_HIGH', 'ML_SYSTEM'], h >>> 5),
    },
    eventProcessedTime: edrDateTime(edrProcessedMs(t, i)),
    eventSource: 'EDR',
    indicator2: [
      {
        score: String(h % 10),
        sha256: hex(h) + '0'.repeat(56),
        verdict: pick(['KNOWN', 'UNKNOWN', 'MALICIOUS'], h >>> 7),
        rowId: String(h),
      },
    ],
    type,
    score: String(h % 10),
    scoreSource: 'REVERSING_LAB',
    action: pick(['RUNNING', 'CREATED', 'DELETED', 'CONNECTED'], h >>> 9),
    id:
      idForm === 'rtm'
        ? edrId(seed, i)
        : idForm === 'per-day'
          ? edrSeriesId(seed, i, edrTimeMs(t, i))
          : `F_${uuid(seed, 70, h % 500)}_${1_000_000 + i}`,
    ...(idForm === 'agent-number' ? { timeSeriesId: edrSeriesId(seed, i, edrTimeMs(t, i)) } : {}),
    asset: {
      fullOSName: 'Microsoft Windows 10 Enterprise 10.0.19044 Build 19044',
      hostName: `host-${h % 500}`,
      agentId: uuid(seed, 70, h % 500),
      interfaces: [
        {
          macAddress: '00:50:56:00:00:01',
          ipAddress: `10.0.${(h >>> 4) & 255}.${h % 250}`,
          interfaceName: 'Intel(R) 82574L Gigabit Network Connection',
          gatewayAddress: '10.0.0.1',
        },
      ],
      netBiosName: `host-${h % 500}`,
      isQuarantineHost: false,
      customerId: uuid(seed, 80, 0),
      platform: 'Windows',
      assetType: 'HOST',
      tags: [{ name: 'Cloud Agent', uuid: uuid(seed, 90, 0) }],
    },
    uniqueId: `-${hex(hash32(seed, 8, i))}${hex(hash32(seed, 9, i), 4)}`,
  };
  if (type === 'MUTEX') event.mutex = { mutexName: `\\Sessions\\2\\BaseNamedObjects\\M${hex(h)}` };
  if (type === 'FILE')
    event.file = { fullPath: `C:\\Users\\u\\f${hex(h)}.tmp`, fileName: `f${hex(h)}.tmp`, size: h % 100_000 };
  if (type === 'NETWORK')
    event.network = {
      remoteAddress: `203.0.113.${h % 250}`,
      remotePort: 443,
      localPort: 50_000 + (h % 10_000),
      protocol: 'TCP',
    };
  if (type === 'REGISTRY') event.registry = { keyName: `HKLM\\Software\\K${hex(h, 4)}`, valueName: 'Run' };
  return event;
}

// ---------------------------------------------------------------- VMDR Mobile assets (XML)
export const MOBILE_BASE_ID = 231;

/** Asset IDs have gaps (step 3), so `id_min` must be honoured exactly, not treated as an index. */
export function mobileAssetId(index: number): number {
  return MOBILE_BASE_ID + index * 3;
}

export interface MobileDetection {
  QID: string;
  TYPE: string;
  SEVERITY: string;
  RESULTS: string;
  STATUS: string;
  FIRST_FOUND_DATETIME: string;
  LAST_FOUND_DATETIME: string;
  TIMES_FOUND: string;
  LAST_UPDATE_DATETIME: string;
}

const mobileTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

const MOBILE_STATUS = ['Active', 'Fixed', 'New'] as const;

/**
 * The asset as JSON: XML element names kept, every value a string, DETECTION always an array. Each detection has a
 * LAST_UPDATE_DATETIME of its own (a function of seed and index, within the week before the asset was last seen),
 * and QIDs are unique within an asset. `updates` are the instants (epoch ms, in order) at which the asset changed
 * after that: update k changes detection k mod n (status, times found, last found and last update = the instant),
 * or, on an asset without detections, adds one found at that instant; LAST_SEEN follows the latest update.
 */
export function mobileAsset(seed: number, index: number, updates: readonly number[] = []) {
  const h = hash32(seed, 10, index);
  const ios = h % 2 === 0;
  const id = mobileAssetId(index);
  const seen = Date.UTC(2021, 3, 1) + (h % 10_000) * 60_000;
  const detections: MobileDetection[] = [];
  const n = h % 4; // 0..3 detections
  for (let d = 0; d < n; d++) {
    const dh = hash32(seed, 11, index * 4 + d);
    const updated = seen - ((dh >>> 7) % 168) * 3_600_000;
    detections.push({
      QID: String(610_100 + (dh % 133) * 3 + d),
      TYPE: pick(['Information', 'Confirmed', 'Potential'], dh),
      SEVERITY: String(1 + (dh % 5)),
      RESULTS: `${ios ? 'iOS' : 'Android'} Device Details : ${ios ? 'iOS : 14.5' : 'Android : 12'}\nModel : M${dh % 50} <a&b>`,
      STATUS: pick(MOBILE_STATUS, dh >>> 3),
      FIRST_FOUND_DATETIME: mobileTime(updated - 86_400_000 - ((dh >>> 11) % 30) * 86_400_000),
      LAST_FOUND_DATETIME: mobileTime(seen),
      TIMES_FOUND: String(1 + (dh % 30)),
      LAST_UPDATE_DATETIME: mobileTime(updated),
    });
  }
  let lastSeen = seen;
  updates.forEach((at, k) => {
    const t = mobileTime(at);
    if (detections.length === 0) {
      detections.push({
        QID: String(610_900 + (hash32(seed, 12, index) % 50)),
        TYPE: 'Confirmed',
        SEVERITY: String(1 + (hash32(seed, 13, index) % 5)),
        RESULTS: `${ios ? 'iOS' : 'Android'} Device Details : found on update ${k + 1}`,
        STATUS: 'New',
        FIRST_FOUND_DATETIME: t,
        LAST_FOUND_DATETIME: t,
        TIMES_FOUND: '1',
        LAST_UPDATE_DATETIME: t,
      });
    } else {
      const d = detections[k % detections.length]!;
      d.STATUS = d.STATUS === 'Fixed' ? 'Active' : 'Fixed';
      d.TIMES_FOUND = String(Number(d.TIMES_FOUND) + 1);
      d.LAST_FOUND_DATETIME = t;
      d.LAST_UPDATE_DATETIME = t;
    }
    lastSeen = Math.max(lastSeen, at);
  });
  const asset: Record<string, unknown> = {
    ID: String(id),
    IP: `192.168.${(h >>> 8) & 255}.${index & 255}`,
    IPV6: `2401:4900:52b8:8433:${hex(h, 4)}:25d7:89b0:${(index & 0xffff).toString(16)}`,
    ASSET_FRIENDLY_NAME: `device_${id}_${ios ? 'iOS_Apple' : 'Android_Samsung'}`,
    OS: ios ? 'iOS' : 'Android',
    OS_VERSION: ios ? '14.5' : '12',
    ASSET_STATUS: pick(['Enrolled', 'Unenrolled', 'Pending'], h >>> 3),
    LAST_SEEN: mobileTime(lastSeen),
    OWNERSHIP: pick(['Corporate - Owned', 'Employee - Owned'], h >>> 5),
    MODEL_NAME: ios ? 'iPad (5th generation)' : 'Galaxy S21',
    MANUFACTURER: ios ? 'Apple, Inc.' : 'Samsung',
    USERNAME: `user${h % 1000}`,
  };
  if (detections.length) asset.DETECTION_LIST = { DETECTION: detections };
  return asset;
}

/** `yyyy-MM-dd HH:mm:ss` (UTC) → epoch ms. */
export function mobileTimeMs(text: string): number {
  return Date.parse(`${text.replace(' ', 'T')}Z`);
}

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const cdata = (s: string) => `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;

export function mobileAssetXml(asset: Record<string, unknown>): string {
  let out = '<ASSET>';
  for (const [k, v] of Object.entries(asset)) {
    if (k === 'DETECTION_LIST') {
      out += '<DETECTION_LIST>';
      for (const d of (v as { DETECTION: MobileDetection[] }).DETECTION) {
        out += '<DETECTION>';
        for (const [dk, dv] of Object.entries(d)) {
          out += dk === 'RESULTS' ? `<RESULTS>${cdata(dv)}</RESULTS>` : `<${dk}>${xmlEscape(dv)}</${dk}>`;
        }
        out += '</DETECTION>';
      }
      out += '</DETECTION_LIST>';
    } else {
      out += `<${k}>${xmlEscape(String(v))}</${k}>`;
    }
  }
  return `${out}</ASSET>`;
}

export function simpleReturnXml(code: number | string, text: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8" ?>\n' +
    '<!DOCTYPE SIMPLE_RETURN SYSTEM "https://qualysapi.qualys.com/api/2.0/simple_return.dtd">\n' +
    `<SIMPLE_RETURN><RESPONSE><DATETIME>${new Date().toISOString()}</DATETIME><CODE>${code}</CODE>` +
    `<TEXT>${xmlEscape(text)}</TEXT></RESPONSE></SIMPLE_RETURN>\n`
  );
}

export { cdata, xmlEscape };
