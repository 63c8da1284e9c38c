/**
 * The API server's XML listings in the simulator: VMDR Host List Detection and the KnowledgeBase
 * (qualys-vmdr-kb.md). Records are pure functions of (seed, index, updates), as JSON exactly as the exporter's XML
 * reader gives them back; the XML is written from that JSON by one generic writer, so "what the simulator holds"
 * and "what it sends" cannot drift apart. Bodies are produced host by host (a generator of text chunks), so a page
 * of tens of megabytes is streamed, never built whole.
 */
import { hash32 } from './data';

type Json = Record<string, unknown>;

const pick = <T>(list: readonly T[], h: number): T => list[h % list.length]!;
/** `YYYY-MM-DDTHH:MM:SSZ`, the XML APIs' time format. */
export const xmlTime = (ms: number) =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

// ------------------------------------------------------------------------------------------ XML writing

const escapeText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const escapeAttr = (s: string) => escapeText(s).replace(/"/g, '&quot;');
const cdataOf = (s: string) => `<![CDATA[${s.replace(/]]>/g, ']]]]><![CDATA[>')}]]>`;

/**
 * One element from its JSON (the reader's form): strings as text (CDATA for `cdata` names when `useCdata`), arrays
 * as repeated elements, objects as children with `@_x` attributes and `#text`.
 */
export function xmlOf(name: string, value: unknown, cdata: ReadonlySet<string>, useCdata: boolean): string {
  if (Array.isArray(value)) return value.map((v) => xmlOf(name, v, cdata, useCdata)).join('');
  if (typeof value === 'string') {
    if (value === '') return `<${name}/>`;
    return `<${name}>${useCdata && cdata.has(name) ? cdataOf(value) : escapeText(value)}</${name}>`;
  }
  const o = value as Json;
  let attrs = '';
  let body = '';
  for (const [k, v] of Object.entries(o)) {
    if (k.startsWith('@_')) attrs += ` ${k.slice(2)}="${escapeAttr(String(v))}"`;
    else if (k === '#text') body += useCdata && cdata.has(name) ? cdataOf(String(v)) : escapeText(String(v));
    else body += xmlOf(k, v, cdata, useCdata);
  }
  return `<${name}${attrs}>${body}</${name}>`;
}

// ------------------------------------------------------------------------------------------ hosts

export const VMDR_BASE_ID = 1_000_003;
/** Host IDs have gaps (step 5): `id_min` must be honoured as an id, not an index. */
export const vmdrHostId = (i: number) => VMDR_BASE_ID + i * 5;
export const vmdrHostIndex = (id: number) => (id - VMDR_BASE_ID) / 5;

/** When hosts were last processed, before any update: within the week before this. */
export const VMDR_EPOCH = Date.UTC(2026, 0, 1);

/** Elements the API sends as CDATA (or, in the `text` dialect, as escaped text). */
export const VMDR_CDATA = new Set(['OS', 'OS_CPE', 'DNS', 'NETBIOS', 'QG_HOSTID', 'RESULTS', 'URL']);
export const KB_CDATA = new Set([
  'TITLE',
  'DIAGNOSIS',
  'CONSEQUENCE',
  'SOLUTION',
  'DIAGNOSIS_COMMENT',
  'CONSEQUENCE_COMMENT',
  'SOLUTION_COMMENT',
  'ID',
  'URL',
  'PRODUCT',
  'VENDOR',
  'DESC',
  'LINK',
  'URL',
]);

export interface VmdrShape {
  /** Average detections per host (0 … 2×avg, so some hosts have none and are left out). Default 4. */
  perHost?: number;
  /** Host index → exactly this many detections (a host with 5,000). */
  big?: Record<number, number>;
  /** Host index → its first detection's RESULTS is this many characters (10 MB). */
  bigResults?: Record<number, number>;
}

/** Every tenth host (index 7, 17, …) has no detection at all: Host List Detection leaves it out. */
export const vmdrHasDetections = (i: number) => i % 10 !== 7; // as counts.ts listedCount

/** How many detections host i has: about `perHost` on average, none for the hosts vmdrHasDetections excludes. */
export function vmdrDetectionCount(seed: number, i: number, shape: VmdrShape): number {
  const big = shape.big?.[i];
  if (big !== undefined) return big;
  const avg = shape.perHost ?? 4;
  if (avg <= 0 || !vmdrHasDetections(i)) return 0;
  return avg === 1 ? 1 : 1 + (hash32(seed, 31, i) % (2 * avg - 1));
}

const STATUSES = ['New', 'Active', 'Active', 'Fixed', 'Re-Opened'] as const;
const TYPES = ['Confirmed', 'Confirmed', 'Potential', 'Info'] as const;
const QDS_SEVERITY = (n: number) => (n >= 90 ? 'CRITICAL' : n >= 70 ? 'HIGH' : n >= 40 ? 'MEDIUM' : 'LOW');

/** The KnowledgeBase QID of KB index j (gaps of 7). */
export const KB_BASE_QID = 38_170;
export const kbQid = (j: number) => KB_BASE_QID + j * 7;

/** Everything a listing request says about what a host record holds. */
export interface HldView {
  version: string;
  statuses?: Set<string>;
  showIgs: boolean;
  includeIgnored: boolean;
  includeDisabled: boolean;
  showResults: boolean;
  showQds: boolean;
  showQdsFactors: boolean;
  showTags: boolean;
  showAssetId: boolean;
  showReopened: boolean;
}

/** The exporter's defaults (QUALYS_VMDR_*), for expectations. */
export const EXPORTER_HLD_VIEW: Omit<HldView, 'version'> = {
  statuses: new Set(['New', 'Active', 'Fixed', 'Re-Opened']),
  showIgs: false,
  includeIgnored: true,
  includeDisabled: true,
  showResults: true,
  showQds: true,
  showQdsFactors: false,
  showTags: true,
  showAssetId: true,
  showReopened: true,
};

export function hldViewOf(params: URLSearchParams, version: string): HldView {
  const flag = (k: string) => params.get(k) === '1';
  const status = params.get('status');
  return {
    version,
    statuses: status ? new Set(status.split(',').map((s) => s.trim())) : undefined,
    showIgs: flag('show_igs'),
    includeIgnored: flag('include_ignored'),
    includeDisabled: flag('include_disabled'),
    showResults: flag('show_results'),
    showQds: flag('show_qds'),
    showQdsFactors: flag('show_qds_factors'),
    showTags: flag('show_tags'),
    showAssetId: flag('show_asset_id'),
    showReopened: flag('show_reopened_info'),
  };
}

/**
 * Host i as the API lists it under `view`, or undefined when no detection passes the filters (the API leaves such
 * hosts out). `updates` are the instants its scan results were processed again (each changes one detection).
 * `kbPool`: how many KB QIDs detections draw from (one detection in 50 names a QID beyond it: newer than the KB).
 */
export function vmdrHost(
  seed: number,
  i: number,
  shape: VmdrShape,
  view: HldView,
  kbPool: number,
  updates: readonly number[] = [],
  detections?: { from: number; to: number },
): Json | undefined {
  const h = hash32(seed, 30, i);
  const id = vmdrHostId(i);
  const n = vmdrDetectionCount(seed, i, shape);
  let processed = VMDR_EPOCH - (h % (7 * 24 * 60)) * 60_000;
  const scanned = processed - 20 * 60_000;
  const list: Json[] = [];
  const changed = new Map<number, number>();
  updates.forEach((at, k) => {
    if (n) changed.set(k % n, at);
    processed = Math.max(processed, at);
  });
  const from = detections?.from ?? 0;
  const to = Math.min(n, detections?.to ?? n);
  for (let d = from; d < to; d++) {
    const dh = hash32(seed, 32, i * 8192 + d);
    // The first detection of every host is a confirmed, active one: it passes the exporter's default filters.
    const type = d === 0 ? 'Confirmed' : pick(TYPES, dh);
    let status: string = d === 0 ? 'Active' : pick(STATUSES, dh >>> 3);
    const at = changed.get(d);
    if (at !== undefined) status = status === 'Fixed' ? 'Re-Opened' : 'Fixed';
    const ignored = d > 0 && dh % 23 === 0 ? '1' : '0';
    const disabled = d > 0 && dh % 29 === 0 ? '1' : '0';
    if (view.statuses && !view.statuses.has(status)) continue;
    if (type === 'Info' && !view.showIgs) continue;
    if (ignored === '1' && !view.includeIgnored) continue;
    if (disabled === '1' && !view.includeDisabled) continue;
    const j = dh % 50 === 0 ? kbPool + (dh % 7) : (dh >>> 6) % Math.max(1, kbPool);
    const first = scanned - (30 + (dh % 300)) * 86_400_000;
    const last = at ?? scanned - (dh % 5) * 86_400_000;
    const det: Json = {};
    if (Number(view.version) >= 5) det.UNIQUE_VULN_ID = String(i * 10_000 + d + 1);
    det.QID = String(kbQid(j));
    det.TYPE = type;
    det.SEVERITY = String(1 + (dh % 5));
    if (dh % 3 !== 0) {
      det.PORT = String(d < 20 ? pick([22, 80, 443, 445, 3389], dh >>> 5) : 1024 + d);
      det.PROTOCOL = pick(['tcp', 'udp'], dh >>> 9);
      if (dh % 13 === 1) det.FQDN = `svc${d}.host${i}.example.com`;
      det.SSL = det.PORT === '443' ? '1' : '0';
    }
    if (dh % 17 === 2) det.INSTANCE = `oracle11:1:${1521 + (d % 3)}:ORCL`;
    if (view.showResults) {
      const big = d === 0 ? shape.bigResults?.[i] : undefined;
      det.RESULTS =
        big !== undefined
          ? `Key\tValue\n${'x'.repeat(Math.max(0, big - 10))}`
          : `Package\tInstalled Version\tRequired Version\nopenssl\t1.0.${dh % 20}\t1.1.1\n` +
            `HKLM\\SOFTWARE\\Vendor {&quot;Enterprise&quot;} <tag> & </HOST> ]] >`;
    }
    det.STATUS = status;
    det.FIRST_FOUND_DATETIME = xmlTime(first);
    det.LAST_FOUND_DATETIME = xmlTime(last);
    if (view.showQds) {
      const qds = 1 + (dh % 100);
      det.QDS = { '@_severity': QDS_SEVERITY(qds), '#text': String(qds) };
      if (view.showQdsFactors) {
        det.QDS_FACTORS = {
          QDS_FACTOR: [
            { '@_name': 'CVSS', '#text': String(((dh >>> 4) % 100) / 10) },
            { '@_name': 'epss', '#text': '0.0012' },
          ],
        };
      }
    }
    det.TIMES_FOUND = String(1 + (dh % 40));
    det.LAST_TEST_DATETIME = xmlTime(last);
    det.LAST_UPDATE_DATETIME = xmlTime(at ?? last);
    if (status === 'Fixed') det.LAST_FIXED_DATETIME = xmlTime(last);
    if (view.showReopened && status === 'Re-Opened') {
      det.FIRST_REOPENED_DATETIME = xmlTime(last - 86_400_000);
      det.LAST_REOPENED_DATETIME = xmlTime(last);
      det.TIMES_REOPENED = '1';
    }
    if (dh % 11 === 3) det.SERVICE = pick(['http', 'ssh', 'microsoft-ds'], dh >>> 2);
    det.IS_IGNORED = ignored;
    det.IS_DISABLED = disabled;
    if (dh % 19 === 4) {
      det.AFFECT_RUNNING_KERNEL = '1';
      det.AFFECT_RUNNING_SERVICE = '0';
      det.AFFECT_EXPLOITABLE_CONFIG = '0';
    }
    det.LAST_PROCESSED_DATETIME = xmlTime(at ?? processed);
    if (dh % 23 === 5) det.ASSET_CVE = `CVE-2024-${1000 + (dh % 8000)}`;
    list.push(det);
  }
  if (!list.length) return undefined;
  const ip = `10.${(h >>> 8) & 255}.${(h >>> 16) & 255}.${i & 255}`;
  const cloud = h % 6 === 1;
  const name = `host${i}.corp${h % 5}.example.com`;
  const host: Json = { ID: String(id) };
  if (view.showAssetId) host.ASSET_ID = String(5_000_000 + i);
  host.IP = ip;
  if (h % 4 === 0) host.IPV6 = `fd00::${(h & 0xffff).toString(16)}:${i.toString(16)}`;
  host.TRACKING_METHOD = cloud ? 'EC2' : pick(['IP', 'AGENT', 'DNS'], h >>> 4);
  host.NETWORK_ID = '0';
  host.OS = pick(
    ['Windows Server 2019 Datacenter 64 bit Edition Version 1809', 'Ubuntu Linux 22.04', 'CentOS 7.9'],
    h >>> 6,
  );
  if (h % 3 === 0) host.OS_CPE = 'cpe:/o:microsoft:windows_server_2019:-:-:x64:';
  host.DNS = name;
  host.DNS_DATA = { HOSTNAME: `host${i}`, DOMAIN: `corp${h % 5}.example.com`, FQDN: name };
  if (cloud) {
    host.CLOUD_PROVIDER = 'AWS';
    host.CLOUD_SERVICE = 'EC2';
    host.CLOUD_RESOURCE_ID = `i-0${(h >>> 0).toString(16)}`;
    host.EC2_INSTANCE_ID = `i-0${(h >>> 0).toString(16)}`;
  }
  host.NETBIOS = `HOST${i}`;
  host.QG_HOSTID = `${(h >>> 0).toString(16)}-${i.toString(16)}`;
  host.LAST_SCAN_DATETIME = xmlTime(scanned);
  host.LAST_VM_SCANNED_DATE = xmlTime(scanned);
  host.LAST_VM_SCANNED_DURATION = String(300 + (h % 3000));
  if (h % 2 === 0) {
    host.LAST_VM_AUTH_SCANNED_DATE = xmlTime(scanned);
    host.LAST_VM_AUTH_SCANNED_DURATION = String(200 + (h % 900));
  }
  if (h % 5 === 0) host.LAST_PC_SCANNED_DATE = xmlTime(scanned - 86_400_000);
  if (view.showTags) {
    host.TAGS = {
      TAG: [
        { TAG_ID: String(7000 + (h % 9)), NAME: pick(['Cloud Agent', 'Internet Facing', 'PCI'], h >>> 2) },
        ...(h % 3 === 0
          ? [{ TAG_ID: '7100', NAME: 'Servers & "Databases"', COLOR: '#FFFFFF', BACKGROUND_COLOR: '#0000FF' }]
          : []),
      ],
    };
  }
  if (cloud) {
    host.METADATA = {
      EC2: {
        ATTRIBUTE: [
          {
            NAME: 'instanceState',
            LAST_STATUS: 'Success',
            VALUE: 'RUNNING',
            LAST_SUCCESS_DATE: xmlTime(scanned),
          },
        ],
      },
    };
    host.CLOUD_PROVIDER_TAGS = {
      CLOUD_TAG: [{ NAME: 'env', VALUE: 'prod', LAST_SUCCESS_DATE: xmlTime(scanned) }],
    };
  }
  if (Number(view.version) >= 5) {
    host.TRURISK_SCORE = String(h % 1000);
    host.ASSET_CRITICALITY_SCORE = String(1 + (h % 5));
  }
  host.DETECTION_LIST = { DETECTION: list };
  return host;
}

/** When host i's scan results were last processed (its updates included). */
export function vmdrProcessedMs(seed: number, i: number, updates: readonly number[] = []): number {
  const h = hash32(seed, 30, i);
  return Math.max(VMDR_EPOCH - (h % (7 * 24 * 60)) * 60_000, ...updates);
}

// ------------------------------------------------------------------------------------------ KnowledgeBase

const KB_CATEGORIES = ['Windows', 'Local', 'Web server', 'Security Policy', 'Ubuntu', 'CGI'] as const;
const VULN_TYPES = ['Vulnerability', 'Potential Vulnerability', 'Information Gathered'] as const;
/** KB modification times spread over the year before this. */
export const KB_EPOCH = Date.UTC(2026, 0, 1);

export interface KbView {
  version: string;
  showChangeLog?: boolean;
  showDisabled: boolean;
  showModules: boolean;
  showPciReasons: boolean;
}

export const EXPORTER_KB_VIEW: Omit<KbView, 'version'> = {
  showDisabled: true,
  showModules: true,
  showPciReasons: true,
};

export function kbViewOf(params: URLSearchParams, version: string): KbView {
  return {
    version,
    showChangeLog: params.get('show_qid_change_log') === '1',
    showDisabled: params.get('show_disabled_flag') === '1',
    showModules: params.get('show_supported_modules_info') === '1',
    showPciReasons: params.get('show_pci_reasons') === '1',
  };
}

/** When KB entry j was last modified by Qualys (its updates included). */
export function kbModifiedMs(seed: number, j: number, updates: readonly number[] = []): number {
  const h = hash32(seed, 40, j);
  return Math.max(KB_EPOCH - (h % (365 * 24 * 60)) * 60_000, ...updates);
}

/** KB entry j (details=All) as the reader gives it back. */
export function kbVuln(seed: number, j: number, view: KbView, updates: readonly number[] = []): Json {
  const h = hash32(seed, 41, j);
  const qid = kbQid(j);
  const modified = kbModifiedMs(seed, j, updates);
  const published = KB_EPOCH - (400 + (h % 3000)) * 86_400_000;
  const severity = 1 + (h % 5);
  const v: Json = {
    QID: String(qid),
    VULN_TYPE: pick(VULN_TYPES, h),
    SEVERITY_LEVEL: String(severity),
    TITLE: `${pick(['OpenSSL', 'Microsoft Windows', 'Apache HTTP Server', 'OpenSSH'], h >>> 3)} Vulnerability (QID ${qid}) <${updates.length}>`,
    CATEGORY: pick(KB_CATEGORIES, h >>> 5),
  };
  if (h % 4 === 1) v.DETECTION_INFO = 'Authenticated';
  if (h % 4 === 0)
    v.LAST_CUSTOMIZATION = { DATETIME: xmlTime(modified - 3600_000), USER_LOGIN: 'quays_ab12' };
  v.LAST_SERVICE_MODIFICATION_DATETIME = xmlTime(modified);
  v.PUBLISHED_DATETIME = xmlTime(published);
  if (h % 3 === 1) v.CODE_MODIFIED_DATETIME = xmlTime(modified - 86_400_000);
  if (h % 5 === 0) {
    v.BUGTRAQ_LIST = {
      BUGTRAQ: [{ ID: String(10_000 + (h % 90_000)), URL: `http://www.securityfocus.com/bid/${h % 90_000}` }],
    };
  }
  v.PATCHABLE = String(h % 2);
  v.SOFTWARE_LIST = { SOFTWARE: [{ PRODUCT: 'openssl', VENDOR: 'openssl' }] };
  if (h % 4 === 2) {
    v.VENDOR_REFERENCE_LIST = {
      VENDOR_REFERENCE: [{ ID: `MS${20 + (h % 6)}-${h % 100}`, URL: `https://msrc.example.com/${qid}` }],
    };
  }
  const cves = h % 3;
  if (cves) {
    v.CVE_LIST = {
      CVE: Array.from({ length: cves }, (_, k) => {
        const id = `CVE-20${20 + (h % 6)}-${String(1000 + ((h >>> 4) % 40_000) + k).padStart(4, '0')}`;
        return { ID: id, URL: `https://cve.mitre.org/cgi-bin/cvename.cgi?name=${id}` };
      }),
    };
  }
  v.DIAGNOSIS = `<P>The service is affected by <A HREF="https://example.com/${qid}">an issue</A>.<BR>Versions &lt; 1.1.1.</P>`;
  if (h % 9 === 3) v.DIAGNOSIS_COMMENT = 'Seen on the DMZ hosts only.';
  v.CONSEQUENCE = 'Successful exploitation allows an attacker to read memory.';
  if (h % 9 === 4) v.CONSEQUENCE_COMMENT = 'Low impact here.';
  v.SOLUTION = `<P>Upgrade. Refer to <A HREF="https://example.com/fix/${qid}">the advisory</A>.</P>`;
  if (h % 9 === 5) v.SOLUTION_COMMENT = 'Patch in the next window.';
  if (h % 5 === 2) {
    v.COMPLIANCE_LIST = {
      COMPLIANCE: [{ TYPE: 'CIS', SECTION: '1.1.1', DESCRIPTION: 'Ensure the service is current.' }],
    };
  }
  if (h % 6 === 0) {
    v.CORRELATION = {
      EXPLOITS: {
        EXPLT_SRC: [
          {
            SRC_NAME: 'The Exploit-DB',
            EXPLT_LIST: {
              EXPLT: [
                { REF: `CVE-2021-${h % 9999}`, DESC: 'PoC', LINK: 'http://www.exploit-db.com/exploits/1' },
              ],
            },
          },
        ],
      },
    };
  }
  const impact = { CONFIDENTIALITY: '2', INTEGRITY: '1', AVAILABILITY: '1' };
  v.CVSS = {
    BASE: { '@_source': 'service', '#text': String((severity * 2 - 0.5).toFixed(1)) },
    TEMPORAL: String((severity * 1.7).toFixed(1)),
    VECTOR_STRING: 'CVSS:2.0/AV:N/AC:L/Au:N/C:P/I:N/A:N',
    ACCESS: { VECTOR: '3', COMPLEXITY: '1' },
    IMPACT: impact,
    AUTHENTICATION: '1',
    EXPLOITABILITY: '2',
    REMEDIATION_LEVEL: '1',
    REPORT_CONFIDENCE: '3',
  };
  v.CVSS_V3 = {
    BASE: String(Math.min(10, severity * 2).toFixed(1)),
    TEMPORAL: String(Math.min(10, severity * 1.8).toFixed(1)),
    VECTOR_STRING: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N',
    CVSS3_VERSION: '3.1',
    ATTACK: { VECTOR: '4', COMPLEXITY: '1' },
    IMPACT: impact,
    PRIVILEGES_REQUIRED: '1',
    USER_INTERACTION: '1',
    SCOPE: '1',
    EXPLOIT_CODE_MATURITY: '2',
    REMEDIATION_LEVEL: '4',
    REPORT_CONFIDENCE: '3',
  };
  v.PCI_FLAG = String(severity >= 3 ? 1 : 0);
  if (severity === 5) v.AUTOMATIC_PCI_FAIL = '1';
  if (view.showPciReasons && severity >= 3) v.PCI_REASONS = { PCI_REASON: [`CVSS ${severity}`] };
  if (h % 7 === 0) {
    v.THREAT_INTELLIGENCE = { THREAT_INTEL: [{ '@_id': '3', '#text': 'Exploit_Public' }] };
  }
  if (view.showModules) v.SUPPORTED_MODULES = { SUPPORTED_MODULE: ['VM', 'CA-Windows Agent'] };
  v.DISCOVERY = {
    REMOTE: String(h % 2),
    AUTH_TYPE_LIST: { AUTH_TYPE: ['Windows'] },
    ...(h % 8 === 1 ? { ADDITIONAL_INFO: 'Patch Available, Exploit Available' } : {}),
  };
  if (view.showDisabled) v.IS_DISABLED = h % 31 === 0 ? '1' : '0';
  if (view.showChangeLog) {
    v.CHANGE_LOG_LIST = {
      CHANGE_LOG_INFO: [{ CHANGE_DATE: xmlTime(modified), COMMENTS: 'Updated references' }],
    };
  }
  if (Number(view.version) >= 4) {
    if (h % 5 === 3) v.TECHNOLOGY = { TECHNOLOGY_NAME: 'OpenSSL' };
    if (h % 5 === 4) v.PATCH_PUBLISHED_DATE = xmlTime(published + 7 * 86_400_000);
  }
  return v;
}

/** Repeating elements outside *_LIST elements (the exporter's listings declare the same). */
export const VMDR_LISTS = ['TAG', 'QDS_FACTOR'];
export const KB_LISTS = ['EXPLT_SRC', 'MW_SRC', 'THREAT_INTEL', 'SUPPORTED_MODULE', 'PCI_REASON'];
