/**
 * The Qualys API simulator: one HTTP origin on 127.0.0.1 serving the gateway (/auth, /auth/oidc, /certview,
 * /ioc, /sem), PCI Merchant (/pci), an IdP token endpoint and a JWKS, with rate/concurrency limits and
 * switchable faults. Faithful to the documented formats (see docs/simulator.md and qualys-api.md).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  certHidden,
  certificate,
  certUnmanaged,
  EDR_PROCESSING_MS,
  edrEvent,
  edrId,
  edrProcessedMs,
  edrTimeMs,
  edrType,
  hash32,
  type EdrIdForm,
  mobileAsset,
  mobileAssetId,
  mobileAssetXml,
  mobileTimeMs,
  MOBILE_BASE_ID,
  PCI_BASE_ID,
  pciScan,
  simpleReturnXml,
  cdata,
  xmlEscape,
  type EdrTimeline,
} from './data';
import {
  ACCOUNT_CODE_TEXT,
  checkDialect,
  DEFAULT_DIALECT,
  rateLimitBody,
  simpleReturnWithItems,
  type AuthLimitDialect,
  type SimDialect,
} from './dialect';
import { FaultController, type FaultSpec } from './faults';
import { bigify, toJson } from './json';
import type { Mutator, WireReply } from './mutate';
import {
  EXPORTER_HLD_VIEW,
  EXPORTER_KB_VIEW,
  hldViewOf,
  KB_CDATA,
  kbModifiedMs,
  kbQid,
  KB_BASE_QID,
  kbViewOf,
  kbVuln,
  VMDR_CDATA,
  vmdrHost,
  vmdrHostId,
  vmdrHostIndex,
  vmdrProcessedMs,
  xmlOf,
  type HldView,
  type KbView,
  type VmdrShape,
} from './vmdr';
import { TokenAuthority, type IssueOptions } from './tokens';

export type { SimModule } from './counts';
export { onlyCounts } from './counts';
import type { SimCounts, SimModule } from './counts';

export interface SimOptions {
  port?: number;
  host?: string;
  seed?: number;
  counts?: Partial<SimCounts>;
  edr?: {
    start?: string;
    stepMs?: number;
    perTick?: number;
    /** Every `lateEvery`-th event comes from an agent that uploads `lateMs` late (its eventProcessedTime). */
    lateEvery?: number;
    lateMs?: number;
    /** The API's "now": events processed after it are not visible yet (default: all are). */
    clock?: () => number;
  };
  /** Token lifetimes, and the accepted credentials (defaults: the demo values in `sim.defaults`). */
  auth?: {
    qualysTokenTtlSec?: number;
    idpTokenTtlSec?: number;
    clientId?: string;
    clientSecret?: string;
    username?: string;
    password?: string;
    /** The subscription-level OAuth client (POST /auth/oauth). */
    subscriptionClientId?: string;
    subscriptionClientSecret?: string;
    /** PCI Merchant's own account (HTTP Basic on /pci). */
    pciUsername?: string;
    pciPassword?: string;
  };
  /** How the API behaves where the documentation is silent: auth, limits and data endpoints (see ./dialect.ts);
   * switch at run time with `setDialect`. */
  dialect?: SimDialect;
  limits?: SimLimits;
  latencyMs?: number;
  /** Scroll ids expire after this much disuse (default 120 s). */
  scrollTtlMs?: number;
  /** Detections per VMDR host (average, and hosts with many, or a huge RESULTS). */
  vmdr?: VmdrShape;
  /**
   * Bytes per second a streamed listing (Host List Detection, KnowledgeBase) is sent at, at most: Qualys produces
   * such pages as it sends them, over minutes for 1,000 hosts (qualys-vmdr-kb.md §1.7). Default: as fast as built.
   */
  streamBytesPerSec?: number;
}

export interface SimLimits {
  rate?: { calls: number; windowSec: number };
  concurrency?: number;
}

export interface SimStats {
  requests: number;
  byPath: Record<string, number>;
  maxConcurrent: number;
  rejected: number;
  authHeadersSeen: number;
  /** Replies the mutator rewrote. */
  mutated: number;
}

export interface ExpectedOptions {
  from?: string;
  to?: string;
  filter?: string;
  /** EDR: the field `from`/`to` apply to (default dateTime). */
  timeField?: EdrTimeField;
  /** EDR: the `state` parameter the listing was asked with (matters under dialect edrState=filters). */
  state?: string;
  /** Mobile: what `detection_updated_since` / `detection_updated_before` would list (under the current dialect). */
  updatedSince?: string;
  updatedBefore?: string;
  /** VMDR: the run's `vm_processed_after` / `vm_processed_before` and API version (default 5.0). */
  processedAfter?: string;
  processedBefore?: string;
  version?: string;
  /** KB: the run's `last_modified_after`. */
  modifiedAfter?: string;
  /** VMDR and KB: the run's filter and flag parameters (the manifest's range.filters); default the exporter's. */
  filters?: Record<string, string>;
}

/** The EDR event field a window (and a sort) applies to, as the record names it. */
export type EdrTimeField = 'dateTime' | 'eventProcessedTime';

/**
 * What a QQL field name means to a tenant speaking `spelling` (dialect edrProcessedTimeField): a time field, or
 * 'unknown'. Names are matched without regard to case.
 */
export function qqlTimeField(
  name: string,
  spelling: SimDialect['edrProcessedTimeField'] = 'documented',
): EdrTimeField | 'unknown' {
  const n = name.toLowerCase();
  if (n === 'event.datetime') return 'dateTime';
  if (n === 'event.eventprocesstime' && spelling !== 'camel') return 'eventProcessedTime';
  if (n === 'event.eventprocessedtime' && spelling !== 'documented') return 'eventProcessedTime';
  return 'unknown';
}

/** How the EDR endpoints read a query under the current dialect. */
export interface EdrQqlDialect {
  spelling?: SimDialect['edrProcessedTimeField'];
  unknown?: SimDialect['edrUnknownField'];
}

export interface Simulator {
  url: string;
  port: number;
  tokenUrl: string;
  jwksUrl: string;
  issuer: string;
  audience: string;
  defaults: {
    clientId: string;
    clientSecret: string;
    username: string;
    password: string;
    subscriptionClientId: string;
    subscriptionClientSecret: string;
    pciUsername: string;
    pciPassword: string;
  };
  faults: FaultController;
  /** Merges `d` into the current dialect (keys given switch; the others keep their value); resets the insert
   * counters of the insert keys given. */
  setDialect(d: SimDialect): void;
  dialect(): SimDialect;
  issueToken(opts?: IssueOptions): Promise<string>;
  setLatency(ms: number): void;
  setLimits(limits: SimLimits): void;
  /**
   * Rewrites every reply on its way out (status, headers, bytes) when `m` returns one; undefined stops it. Replies
   * the simulator does not write itself (a reset, a stall, a truncated page) are not seen.
   */
  setMutator(m: Mutator | undefined): void;
  stats(): SimStats;
  /**
   * Mobile assets `ids` change at `at`: each update changes one detection (round robin; an asset without
   * detections gains one) with LAST_UPDATE_DATETIME = `at`, and LAST_SEEN. Updates of one asset apply in call order.
   */
  mobileUpdated(ids: Iterable<string | number>, at: string | Date): void;
  /** VMDR hosts `ids` had scan results processed at `at`: one detection each changes status, times follow. */
  vmdrProcessed(ids: Iterable<string | number>, at: string | Date): void;
  /** KB entries `qids` were modified by Qualys at `at` (their TITLE changes, LAST_SERVICE_MODIFICATION_DATETIME). */
  kbModified(qids: Iterable<string | number>, at: string | Date): void;
  expectedIds(module: SimModule, opts?: ExpectedOptions): Iterable<string>;
  expectedRecords(module: SimModule, opts?: ExpectedOptions): Iterable<Record<string, unknown>>;
  close(): Promise<void>;
}

const DEMO = {
  clientId: 'qexport-demo',
  clientSecret: 'demo-client-secret',
  username: 'demo',
  password: 'demo-password',
  subscriptionClientId: 'qexport-subscription',
  subscriptionClientSecret: 'demo-subscription-secret',
  pciUsername: 'pci-demo',
  pciPassword: 'pci-demo-password',
};

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Reply {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
  /** A body produced piece by piece (large XML listings): written as it is produced, with backpressure. */
  chunks?: Iterable<string>;
}

const json = (status: number, value: unknown, headers?: Record<string, string>): Reply => ({
  status,
  contentType: 'application/json',
  body: toJson(value),
  headers,
});
const xml = (status: number, body: string): Reply => ({ status, contentType: 'application/xml', body });

const isSem = (path: string) => path.startsWith('/sem/');
const isApi = (path: string) => path.startsWith('/api/');
const isClassic = (path: string) => path.startsWith('/pci/') || isSem(path) || isApi(path);
const DATA_PREFIXES = ['/pci/', '/certview/', '/ioc/', '/sem/', '/api/'];
const JWKS_PATH = '/.well-known/jwks.json';
const HLD_PATH = /^\/api\/(\d+\.\d+)\/fo\/asset\/host\/vm\/detection\/?$/;
const KB_PATH = /^\/api\/(\d+\.\d+)\/fo\/knowledge_base\/vuln\/?$/;

function intParam(value: string | null, name: string, min: number, max: number, fallback?: number): number {
  if (value === null || value === '') {
    if (fallback === undefined) throw new HttpError(400, `missing required parameter '${name}'`);
    return fallback;
  }
  if (!/^-?\d+$/.test(value))
    throw new HttpError(400, `parameter '${name}' must be an integer, got '${value}'`);
  const n = Number(value);
  if (n < min || n > max)
    throw new HttpError(400, `parameter '${name}' must be between ${min} and ${max}, got ${n}`);
  return n;
}

export interface EdrFilter {
  fromMs?: number;
  toMs?: number;
  /** The field the time range applies to (default dateTime). */
  field: EdrTimeField;
  type?: string;
  /** state=true under dialect edrState=filters: active events only. */
  activeOnly?: boolean;
}

/**
 * Parses the QQL the EDR pager sends: `event.datetime:['A'..'B']` (or the processing-time field, spelled as the
 * dialect knows it) and `type:X`, joined by AND. The range is read as [A, B): from inclusive, to exclusive. A range on
 * a field the tenant does not know is 400, or dropped (dialect edrUnknownField=ignore).
 */
export function parseEdrFilter(filter: string | null, d: EdrQqlDialect = {}): EdrFilter {
  const out: EdrFilter = { field: 'dateTime' };
  if (!filter || !filter.trim()) return out;
  for (const raw of filter.split(/\s+AND\s+/i)) {
    const term = raw.trim().replace(/^\((.*)\)$/, '$1');
    const range = /^(event\.[A-Za-z]+)\s*:\s*\[\s*'([^']+)'\s*\.\.\s*'([^']+)'\s*\]$/.exec(term);
    if (range) {
      const field = qqlTimeField(range[1]!, d.spelling);
      if (field === 'unknown') {
        if (d.unknown === 'ignore') continue;
        throw new HttpError(400, `unknown QQL field '${range[1]}' in filter term '${term}'`);
      }
      const a = Date.parse(range[2]!);
      const b = Date.parse(range[3]!);
      if (Number.isNaN(a) || Number.isNaN(b))
        throw new HttpError(400, `invalid date in filter term '${term}'`);
      if (out.fromMs !== undefined) throw new HttpError(400, 'more than one time range in the filter');
      out.field = field;
      out.fromMs = a;
      out.toMs = b;
      continue;
    }
    const type = /^type\s*:\s*"?([A-Z_]+)"?$/i.exec(term);
    if (type) {
      out.type = type[1]!.toUpperCase();
      continue;
    }
    throw new HttpError(400, `unsupported filter term '${term}'`);
  }
  return out;
}

/**
 * `sort=[{"event.datetime":"asc"}]` → the field and direction; undefined when absent, or on a field the tenant does
 * not know and ignores (dialect edrUnknownField=ignore; otherwise 400).
 */
export function parseEdrSort(
  sort: string | null,
  d: EdrQqlDialect = {},
): { field: EdrTimeField; dir: 'asc' | 'desc' } | undefined {
  if (sort === null || sort === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(sort);
  } catch {
    throw new HttpError(400, `parameter 'sort' is not valid JSON: '${sort}'`);
  }
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new HttpError(400, 'parameter \'sort\' must be a JSON array like [{"event.datetime":"asc"}]');
  const first = parsed[0] as Record<string, unknown>;
  const entries = first && typeof first === 'object' ? Object.entries(first) : [];
  if (entries.length !== 1) throw new HttpError(400, "each 'sort' entry must have one field");
  const [key, dir] = entries[0]!;
  if (dir !== 'asc' && dir !== 'desc')
    throw new HttpError(400, `sort direction must be asc or desc, got '${String(dir)}'`);
  const field = qqlTimeField(key, d.spelling);
  if (field !== 'unknown') return { field, dir };
  if (d.unknown === 'ignore' || !/^event\./i.test(key)) return undefined;
  throw new HttpError(400, `unknown QQL field '${key}' in sort`);
}

interface Scroll {
  /** Event indexes still to be served, in the scroll's order. */
  rest: Iterator<number>;
  pageSize: number;
  lastUsed: number;
}

async function readBody(req: IncomingMessage, limit = 1_000_000): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) throw new HttpError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * Writes a produced body as it comes, waiting for the socket to drain (a page is never held whole), at most
 * `bytesPerSec` when given.
 */
async function writeChunks(res: ServerResponse, reply: Reply, bytesPerSec?: number): Promise<void> {
  res.writeHead(reply.status, { 'content-type': reply.contentType, ...reply.headers });
  let pending = '';
  let sent = 0;
  const t0 = performance.now();
  for (const chunk of reply.chunks!) {
    if (res.destroyed) return;
    pending += chunk;
    if (pending.length < 64 * 1024) continue;
    if (bytesPerSec) {
      const due = t0 + (sent / bytesPerSec) * 1000 - performance.now();
      if (due > 1) await new Promise((r) => setTimeout(r, due));
    }
    sent += pending.length;
    const ok = res.write(pending);
    pending = '';
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  res.end(pending);
}

export async function startSimulator(opts: SimOptions = {}): Promise<Simulator> {
  const seed = opts.seed ?? 1;
  const DEFAULTS = {
    clientId: opts.auth?.clientId ?? DEMO.clientId,
    clientSecret: opts.auth?.clientSecret ?? DEMO.clientSecret,
    username: opts.auth?.username ?? DEMO.username,
    password: opts.auth?.password ?? DEMO.password,
    subscriptionClientId: opts.auth?.subscriptionClientId ?? DEMO.subscriptionClientId,
    subscriptionClientSecret: opts.auth?.subscriptionClientSecret ?? DEMO.subscriptionClientSecret,
    pciUsername: opts.auth?.pciUsername ?? DEMO.pciUsername,
    pciPassword: opts.auth?.pciPassword ?? DEMO.pciPassword,
  };
  let dialect: Required<AuthLimitDialect> & SimDialect = { ...DEFAULT_DIALECT, ...opts.dialect };
  /** The previous data call was blocked (for the 'repeat' wait-header dialect). */
  let lastBlocked = false;
  const counts = { pci: 25, certview: 450, edr: 1000, mobile: 30, vmdr: 40, kb: 60, ...opts.counts };
  const vmdrShape: VmdrShape = opts.vmdr ?? {};
  /** VMDR host index → instants its scan results were processed again; KB index → its modification instants. */
  const vmdrUpdates = new Map<number, number[]>();
  const kbUpdates = new Map<number, number[]>();
  const timeline: EdrTimeline = {
    startMs: Date.parse(opts.edr?.start ?? '2026-01-01T00:00:00.000Z'),
    stepMs: opts.edr?.stepMs ?? 1000,
    perTick: Math.max(1, opts.edr?.perTick ?? 1),
    lateEvery: opts.edr?.lateEvery ?? 0,
    lateMs: opts.edr?.lateMs ?? 0,
  };
  const edrClock = opts.edr?.clock;
  checkDialect(dialect, 'dialect');
  let pciInsertsLeft = dialect.pciInsertAfterFirstPage?.times ?? 1;
  let certInserted = 0;
  let certInsertsLeft = dialect.certviewInsertAfterFirstPage?.times ?? 1;
  const qualysTtl = opts.auth?.qualysTokenTtlSec ?? 14_400;
  const idpTtl = opts.auth?.idpTokenTtlSec ?? 3600;
  const scrollTtlMs = opts.scrollTtlMs ?? 120_000;
  let latencyMs = opts.latencyMs ?? 0;
  let limits: SimLimits = opts.limits ?? {};
  let pciInserted = 0;
  /** Mobile asset index → instants of its updates (mobileUpdated), in order. */
  const mobileUpdates = new Map<number, number[]>();
  const faults = new FaultController();
  const scrolls = new Map<string, Scroll>();
  const stats: SimStats = {
    requests: 0,
    byPath: {},
    maxConcurrent: 0,
    rejected: 0,
    authHeadersSeen: 0,
    mutated: 0,
  };
  /** Rewrites replies on their way out (the trust-boundary fuzz suite); `served` numbers the replies. */
  let mutator: Mutator | undefined;
  let served = 0;
  let running = 0;
  let windowStart = Date.now();
  let windowCalls = 0;

  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host ?? '127.0.0.1'}:${port}`;
  const issuer = `${url}/idp`;
  const audience = 'qualys-api';
  const authority = await TokenAuthority.create(issuer, audience);

  // ------------------------------------------------------------ expected data
  const pciTotal = () => counts.pci + pciInserted;
  /** PCI list position p (0-based, newest first) → scanId. */
  const pciIdAt = (p: number) => PCI_BASE_ID + pciTotal() - 1 - p;

  function edrRange({ fromMs, toMs }: { fromMs?: number; toMs?: number }): { first: number; end: number } {
    const tickOf = (ms: number) => Math.ceil((ms - timeline.startMs) / timeline.stepMs);
    const first = fromMs === undefined ? 0 : Math.max(0, tickOf(fromMs) * timeline.perTick);
    const end =
      toMs === undefined ? counts.edr : Math.min(counts.edr, Math.max(0, tickOf(toMs) * timeline.perTick));
    return { first: Math.min(first, counts.edr), end };
  }

  const skewMs = () => (dialect.clockSkewSeconds ?? 0) * 1000;
  /** The API's "now" for EDR: events processed after it are not visible yet (no clock and no skew: all are). */
  const edrVisible = (i: number) =>
    (edrClock === undefined && !skewMs()) ||
    edrProcessedMs(timeline, i) <= (edrClock ?? Date.now)() + skewMs();
  const edrIdForm = (): EdrIdForm => dialect.edrIdForm ?? 'rtm';
  /** Three events in four are active (state=true under dialect edrState=filters). */
  const edrActive = (i: number) => hash32(seed, 14, i) % 4 !== 0;
  const qqlDialect = (): EdrQqlDialect => ({
    spelling: dialect.edrProcessedTimeField,
    unknown: dialect.edrUnknownField,
  });
  /** `state` of an EDR request: under 'filters', true lists active events only; anything but true/false is 400. */
  function edrStateOf(q: URLSearchParams, f: EdrFilter): EdrFilter {
    const v = q.get('state');
    if (v !== null && v !== 'true' && v !== 'false') {
      throw new HttpError(400, `parameter 'state' must be true or false, got '${v}'`);
    }
    return dialect.edrState === 'filters' && v === 'true' ? { ...f, activeOnly: true } : f;
  }
  const edrTime = (field: EdrTimeField, i: number) =>
    field === 'dateTime' ? edrTimeMs(timeline, i) : edrProcessedMs(timeline, i);

  /** Indexes of the events a query selects, oldest first on `key` (ties: by id, i.e. by index), or reversed. */
  function* edrIndexes(f: EdrFilter, key: EdrTimeField, dir: 'asc' | 'desc'): Generator<number> {
    const match = (i: number) =>
      (!f.type || edrType(seed, i) === f.type) && (!f.activeOnly || edrActive(i)) && edrVisible(i);
    if (f.field === 'dateTime' && key === 'dateTime') {
      // The common case needs no materialised list: indexes are in dateTime order already.
      const { first, end } = edrRange(f);
      if (dir === 'asc') {
        for (let i = first; i < end; i++) if (match(i)) yield i;
      } else {
        for (let i = end - 1; i >= first; i--) if (match(i)) yield i;
      }
      return;
    }
    // eventProcessedTime = dateTime + processing + (late agents) lateMs: widen the dateTime range to cover it.
    const maxLate = EDR_PROCESSING_MS + (timeline.lateEvery ? (timeline.lateMs ?? 0) : 0);
    const wide =
      f.field === 'dateTime'
        ? edrRange(f)
        : edrRange({
            fromMs: f.fromMs === undefined ? undefined : f.fromMs - maxLate,
            toMs: f.toMs === undefined ? undefined : f.toMs - EDR_PROCESSING_MS + 1,
          });
    const list: number[] = [];
    for (let i = wide.first; i < wide.end; i++) {
      const t = edrTime(f.field, i);
      if ((f.fromMs === undefined || t >= f.fromMs) && (f.toMs === undefined || t < f.toMs) && match(i))
        list.push(i);
    }
    list.sort((a, b) => edrTime(key, a) - edrTime(key, b) || a - b);
    if (dir === 'desc') list.reverse();
    yield* list;
  }

  /** Certificate listing positions → generator indexes: inserted certificates first (newest first), then the rest. */
  const certIndexAt = (p: number) =>
    p < certInserted ? counts.certview + certInserted - 1 - p : p - certInserted;
  const certListed = (i: number, assetType: string | undefined) => {
    if (dialect.certviewAssetType !== 'managed-by-default') return true;
    const t = assetType ?? 'MANAGED';
    return t === 'ALL' || (t === 'UNMANAGED') === certUnmanaged(seed, i);
  };
  const certVisible = (i: number) => dialect.certviewPaging !== 'filter-after-page' || !certHidden(seed, i);

  function* expectedIndexes(module: SimModule, o: ExpectedOptions = {}): Generator<number> {
    if (module === 'edr-events') {
      const f = parseEdrFilter(o.filter ?? null, { spelling: 'both' });
      if (o.timeField) f.field = o.timeField;
      if (o.from) f.fromMs = Date.parse(o.from);
      if (o.to) f.toMs = Date.parse(o.to);
      if (dialect.edrState === 'filters' && o.state === 'true') f.activeOnly = true;
      yield* edrIndexes(f, f.field, 'asc');
      return;
    }
    if (module === 'certview-certificates') {
      for (let p = 0; p < counts.certview + certInserted; p++) {
        const i = certIndexAt(p);
        if (certVisible(i)) yield i;
      }
      return;
    }
    if (module === 'mobile-assets') {
      const f = mobileWindow(o.updatedSince ?? null, o.updatedBefore ?? null);
      for (let i = 0; i < counts.mobile; i++) if (mobileListed(i, f)) yield i;
      return;
    }
    if (module === 'vmdr-detections') {
      const w = hldWindow(o.processedAfter ?? null, o.processedBefore ?? null);
      for (let i = 0; i < counts.vmdr; i++) if (hldListed(i, w, hldExpected(o))) yield i;
      return;
    }
    if (module === 'knowledgebase') {
      const after = o.modifiedAfter ? Date.parse(o.modifiedAfter) : undefined;
      for (let j = 0; j < counts.kb; j++) if (kbListed(j, after)) yield j;
      return;
    }
    for (let i = 0; i < pciTotal(); i++) yield i;
  }

  /** A JSON module's record as served: with the bigNumbers dialect, its identity and a field beyond 2^53. */
  const pciRecord = (scanId: number) =>
    bigify('pci-scans', pciScan(seed, scanId), scanId, dialect.bigNumbers);
  const certRecord = (i: number) =>
    bigify(
      'certview-certificates',
      certificate(seed, i) as unknown as Record<string, unknown>,
      i,
      dialect.bigNumbers,
    );
  const edrRecord = (i: number) =>
    bigify('edr-events', edrEvent(seed, timeline, i, edrIdForm()), i, dialect.bigNumbers);

  function recordAt(module: SimModule, i: number, o: ExpectedOptions = {}): Record<string, unknown> {
    switch (module) {
      case 'pci-scans':
        return pciRecord(pciIdAt(i));
      case 'certview-certificates':
        return certRecord(i);
      case 'edr-events':
        return edrRecord(i);
      case 'mobile-assets':
        return (
          mobileListed(i, mobileWindow(o.updatedSince ?? null, o.updatedBefore ?? null)) ?? mobileRecord(i)
        );
      case 'vmdr-detections':
        return hldListed(i, hldWindow(o.processedAfter ?? null, o.processedBefore ?? null), hldExpected(o))!;
      case 'knowledgebase':
        return kbRecord(
          i,
          o.filters
            ? kbViewOf(new URLSearchParams(o.filters), o.version ?? '4.0')
            : { ...EXPORTER_KB_VIEW, version: o.version ?? '4.0' },
        );
    }
  }

  // ------------------------------------------------------------ API server: Host List Detection, KnowledgeBase
  /** What a run with these options lists: its own filters when the manifest recorded them, else the defaults. */
  const hldExpected = (o: ExpectedOptions): HldView =>
    o.filters
      ? hldViewOf(new URLSearchParams(o.filters), o.version ?? '5.0')
      : { ...EXPORTER_HLD_VIEW, version: o.version ?? '5.0' };
  interface HldWindow {
    afterMs?: number;
    beforeMs?: number;
  }
  function hldWindow(after: string | null, before: string | null): HldWindow {
    const parse = (v: string | null, name: string) => {
      if (v === null || v === '') return undefined;
      const ms = Date.parse(/T/.test(v) ? v : `${v}T00:00:00Z`);
      if (!/^\d{4}-\d\d-\d\d(T\d\d:\d\d:\d\dZ)?$/.test(v) || Number.isNaN(ms)) {
        throw new HttpError(400, `parameter '${name}' must be YYYY-MM-DD[THH:MM:SSZ], got '${v}'`);
      }
      return ms;
    };
    return { afterMs: parse(after, 'vm_processed_after'), beforeMs: parse(before, 'vm_processed_before') };
  }
  /** Within [after, before] or (after, before), per the dialect. */
  const inWindow = (t: number, after?: number, before?: number) => {
    const exclusive = dialect.xmlDateBounds === 'exclusive';
    if (after !== undefined && (exclusive ? t <= after : t < after)) return false;
    if (before !== undefined && (exclusive ? t >= before : t > before)) return false;
    return true;
  };
  const kbPool = () => (counts.kb > 0 ? counts.kb : 200);
  function hldListed(i: number, w: HldWindow, view: HldView, part?: { from: number; to: number }) {
    const updates = vmdrUpdates.get(i);
    if (!inWindow(vmdrProcessedMs(seed, i, updates), w.afterMs, w.beforeMs)) return undefined;
    return vmdrHost(seed, i, vmdrShape, view, kbPool(), updates, part);
  }
  const kbRecord = (j: number, view: KbView) => kbVuln(seed, j, view, kbUpdates.get(j));
  const kbListed = (j: number, afterMs?: number) =>
    afterMs === undefined || inWindow(kbModifiedMs(seed, j, kbUpdates.get(j)), afterMs);

  /** Every parameter of an API server request: the query and, for a POST, its form body. */
  async function apiParams(req: IncomingMessage, u: URL): Promise<URLSearchParams> {
    const q = new URLSearchParams(u.searchParams);
    if (req.method === 'POST') {
      const type = req.headers['content-type'] ?? '';
      const text = await readBody(req);
      if (text && !type.startsWith('application/x-www-form-urlencoded')) {
        throw new HttpError(400, 'POST parameters must be application/x-www-form-urlencoded');
      }
      for (const [k, v] of new URLSearchParams(text)) q.append(k, v);
    } else if (req.method !== 'GET') throw new HttpError(405, 'use GET or POST');
    for (const k of new Set(q.keys())) {
      if (q.getAll(k).length > 1) throw new HttpError(400, `parameter '${k}' given more than once`);
    }
    return q;
  }

  /** The truncation WARNING of an API server listing, its URL built as the dialect says. */
  function xmlWarning(
    path: string,
    q: URLSearchParams,
    shown: number,
    idMin: number,
    fault?: FaultSpec,
  ): string {
    const mode = dialect.xmlUrlParams ?? 'all';
    const next = mode === 'id-min-only' ? new URLSearchParams({ action: 'list' }) : new URLSearchParams(q);
    if (mode === 'no-truncation-limit') next.delete('truncation_limit');
    next.delete('id_min');
    next.set('id_min', String(idMin));
    const origin = fault?.kind === 'offsite-url' ? (fault.url ?? 'https://evil.example.com') : url;
    return (
      `<WARNING><CODE>1980</CODE><TEXT>${shown} record limit exceeded. Use URL to get next batch of results.</TEXT>` +
      `<URL>${dialect.xmlText === 'text' ? xmlEscape(`${origin}${path}?${next}`) : cdata(`${origin}${path}?${next}`)}</URL></WARNING>`
    );
  }

  function* hldBody(path: string, version: string, q: URLSearchParams, fault?: FaultSpec): Generator<string> {
    const limit = intParam(q.get('truncation_limit'), 'truncation_limit', 0, 1_000_000, 1000);
    const idMin = intParam(q.get('id_min'), 'id_min', 0, 2 ** 53, 0);
    const w = hldWindow(q.get('vm_processed_after'), q.get('vm_processed_before'));
    const view = hldViewOf(q, version);
    const useCdata = dialect.xmlText !== 'text';
    const split = dialect.xmlIdMin === 'split';
    yield (
      '<?xml version="1.0" encoding="UTF-8" ?>\n' +
      `<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "${url}/api/${version}/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd">\n` +
      `<HOST_LIST_VM_DETECTION_OUTPUT>\n  <RESPONSE>\n    <DATETIME>${new Date().toISOString().slice(0, 19)}Z</DATETIME>\n`
    );
    let listed = 0;
    let last = -1;
    let previous = -1;
    let next: number | undefined;
    for (let i = Math.max(0, Math.ceil(vmdrHostIndex(idMin))); i < counts.vmdr; i++) {
      // Split dialect: the host a continuation starts at comes with the second half of its detections.
      const resumedSplit = split && q.has('id_min') && vmdrHostId(i) === idMin;
      const total =
        resumedSplit || split
          ? (hldListed(i, w, view) as { DETECTION_LIST: { DETECTION: unknown[] } } | undefined)
          : undefined;
      const half = total ? Math.ceil(total.DETECTION_LIST.DETECTION.length / 2) : 0;
      const host =
        resumedSplit && half ? hldListed(i, w, view, { from: half, to: Infinity }) : hldListed(i, w, view);
      if (!host) continue;
      if (limit > 0 && listed === limit) {
        next = i;
        break;
      }
      const lastOfPage = split && limit > 0 && listed === limit - 1 && half > 1 && !resumedSplit;
      const shown = lastOfPage ? hldListed(i, w, view, { from: 0, to: half })! : host;
      if (listed === 0) yield '    <HOST_LIST>\n';
      yield `${xmlOf('HOST', shown, VMDR_CDATA, useCdata)}\n`;
      listed++;
      previous = last;
      last = i;
    }
    if (listed) yield '    </HOST_LIST>\n';
    if (next !== undefined) {
      const mode = dialect.xmlIdMin ?? 'next';
      const idMinNext =
        mode === 'last' || mode === 'split'
          ? vmdrHostId(last)
          : mode === 'last-plus-one'
            ? vmdrHostId(last) + 1
            : mode === 'backwards'
              ? vmdrHostId(Math.max(0, previous))
              : vmdrHostId(next);
      yield `    ${xmlWarning(path, q, limit, idMinNext, fault)}\n`;
    }
    yield '  </RESPONSE>\n</HOST_LIST_VM_DETECTION_OUTPUT>\n';
  }

  function* kbBody(path: string, version: string, q: URLSearchParams, fault?: FaultSpec): Generator<string> {
    const details = q.get('details') ?? 'Basic';
    if (details !== 'All')
      throw new HttpError(400, `this simulator serves details=All only, got '${details}'`);
    const idMin = intParam(q.get('id_min'), 'id_min', 0, 2 ** 53, 0);
    const afterText = q.get('last_modified_after');
    const after = afterText ? hldWindow(afterText, null).afterMs : undefined;
    const view = kbViewOf(q, version);
    const useCdata = dialect.xmlText !== 'text';
    const limit = dialect.kbTruncation ?? 0;
    yield (
      '<?xml version="1.0" encoding="UTF-8" ?>\n' +
      `<!DOCTYPE KNOWLEDGE_BASE_VULN_LIST_OUTPUT SYSTEM "${url}/api/${version}/fo/knowledge_base/vuln/knowledge_base_vuln_list_output.dtd">\n` +
      `<KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n  <RESPONSE>\n    <DATETIME>${new Date().toISOString().slice(0, 19)}Z</DATETIME>\n`
    );
    const first = Math.max(0, Math.ceil((idMin - KB_BASE_QID) / 7));
    const order: number[] = [];
    for (let j = first; j < counts.kb; j++) if (kbListed(j, after)) order.push(j);
    if (dialect.kbOrder === 'unordered') {
      for (let k = 0; k + 1 < order.length; k += 2) [order[k], order[k + 1]] = [order[k + 1]!, order[k]!];
    }
    const shown = limit > 0 ? order.slice(0, limit) : order;
    if (shown.length) yield '    <VULN_LIST>\n';
    for (const j of shown) yield `${xmlOf('VULN', kbRecord(j, view), KB_CDATA, useCdata)}\n`;
    if (shown.length) yield '    </VULN_LIST>\n';
    if (limit > 0 && order.length > limit) {
      const lastJ = shown[shown.length - 1]!;
      const mode = dialect.xmlIdMin ?? 'next';
      const idMinNext =
        mode === 'last' || mode === 'split'
          ? kbQid(lastJ)
          : mode === 'last-plus-one'
            ? kbQid(lastJ) + 1
            : mode === 'backwards'
              ? kbQid(Math.max(0, lastJ - 2))
              : kbQid(order[limit]!);
      yield `    ${xmlWarning(path, q, limit, idMinNext, fault)}\n`;
    }
    yield '  </RESPONSE>\n</KNOWLEDGE_BASE_VULN_LIST_OUTPUT>\n';
  }

  /** The API server's listings: version served?, then the body as it is produced. */
  async function apiList(req: IncomingMessage, u: URL, fault?: FaultSpec): Promise<Reply> {
    const hld = HLD_PATH.exec(u.pathname);
    const kb = KB_PATH.exec(u.pathname);
    const version = (hld ?? kb)?.[1];
    const served = hld
      ? (dialect.vmdrVersions ?? ['2.0', '3.0', '4.0', '5.0'])
      : (dialect.kbVersions ?? ['2.0', '3.0', '4.0']);
    if (!version || !served.includes(version)) {
      throw new HttpError(404, `no such endpoint: ${req.method} ${u.pathname}`);
    }
    const q = await apiParams(req, u);
    if (q.get('action') !== 'list') {
      return xml(
        400,
        simpleReturnXml(1903, `Missing required parameter: action (got '${q.get('action') ?? ''}')`),
      );
    }
    const format = q.get('output_format');
    if (format !== null && format !== 'XML')
      throw new HttpError(400, `output_format '${format}' is not served`);
    // Parameter errors are found before the first byte, as the API answers them.
    const body = hld ? hldBody(u.pathname, version, q, fault) : kbBody(u.pathname, version, q, fault);
    const first = body.next();
    const rest = body;
    return {
      status: 200,
      contentType: 'text/xml;charset=UTF-8',
      body: '',
      chunks: (function* () {
        if (!first.done) yield first.value;
        yield* rest;
      })(),
    };
  }

  // ------------------------------------------------------------ VMDR Mobile: updates and the updated-since filter
  const mobileRecord = (i: number) => mobileAsset(seed, i, mobileUpdates.get(i));

  interface MobileWindow {
    sinceMs?: number;
    beforeMs?: number;
  }
  const MOBILE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
  function mobileWindow(since: string | null, before: string | null): MobileWindow {
    const parse = (v: string | null, name: string) => {
      if (v === null || v === '') return undefined;
      if (!MOBILE_TIME.test(v) || Number.isNaN(Date.parse(v))) {
        throw new HttpError(400, `parameter '${name}' must be YYYY-MM-DDTHH:MM:SSZ, got '${v}'`);
      }
      return Date.parse(v);
    };
    return {
      sinceMs: parse(since, 'detection_updated_since'),
      beforeMs: parse(before, 'detection_updated_before'),
    };
  }

  /** Asset i as listed under window `f` (the dialect says how), or undefined when the window leaves it out. */
  function mobileListed(i: number, f: MobileWindow): Record<string, unknown> | undefined {
    const asset = mobileRecord(i);
    const mode = dialect.mobileUpdatedFilter ?? 'changed-detections';
    if ((f.sinceMs === undefined && f.beforeMs === undefined) || mode === 'ignored') return asset;
    const list =
      (asset.DETECTION_LIST as { DETECTION: Record<string, string>[] } | undefined)?.DETECTION ?? [];
    const changed = list.filter((d) => {
      const t = mobileTimeMs(d.LAST_UPDATE_DATETIME!);
      return (f.sinceMs === undefined || t >= f.sinceMs) && (f.beforeMs === undefined || t < f.beforeMs);
    });
    if (!changed.length) return undefined;
    return mode === 'whole-asset' ? asset : { ...asset, DETECTION_LIST: { DETECTION: changed } };
  }

  function idAt(module: SimModule, i: number): string {
    switch (module) {
      case 'vmdr-detections':
        return String(vmdrHostId(i));
      case 'knowledgebase':
        return String(kbQid(i));
      case 'pci-scans':
        return String(pciRecord(pciIdAt(i)).scanId);
      case 'certview-certificates':
        return String(certRecord(i).id);
      case 'edr-events':
        return edrIdForm() === 'rtm' ? edrId(seed, i) : String(edrRecord(i).id);
      case 'mobile-assets':
        return String(mobileAssetId(i));
    }
  }

  // ------------------------------------------------------------ auth endpoints
  /** Token-endpoint and JWKS faults: only faults whose `path` names the endpoint: status/reset/stall/redirect. */
  function authFault(req: IncomingMessage, u: URL): Reply | 'handled' | undefined {
    const fault = faults.take(
      u.pathname,
      (kind, spec) =>
        spec.path !== undefined &&
        (kind === 'status' || kind === 'reset' || kind === 'stall' || kind === 'redirect'),
    );
    if (!fault) return undefined;
    if (fault.kind === 'redirect') return redirectReply(fault, u);
    if (fault.kind === 'reset') {
      req.socket.destroy();
      return 'handled';
    }
    if (fault.kind === 'stall') {
      if (fault.ms !== undefined) setTimeout(() => req.socket.destroy(), fault.ms).unref();
      return 'handled';
    }
    const status = fault.status ?? 503;
    return {
      status,
      contentType: 'text/html',
      body: `<!DOCTYPE html><html><body><h1>${status} Service Unavailable</h1></body></html>`,
    };
  }

  /** A redirect to the fault's origin, keeping the path and query (as a moved service would answer). */
  function redirectReply(fault: FaultSpec, u: URL): Reply {
    const target = `${fault.url ?? 'https://elsewhere.example.com'}${u.pathname}${u.search}`;
    return {
      status: fault.status ?? 307,
      contentType: 'text/plain',
      body: `moved to ${target}`,
      headers: { location: target },
    };
  }

  async function handleAuth(req: IncomingMessage, u: URL): Promise<Reply | 'handled' | undefined> {
    const path = u.pathname;
    if (path === '/auth' || path.startsWith('/auth/') || path === '/oauth2/token' || path === JWKS_PATH) {
      const faulted = authFault(req, u);
      if (faulted) return faulted;
    }
    if (path === JWKS_PATH && req.method === 'GET') return json(200, { keys: [authority.jwk] });
    if (path === '/auth/oidc' || path === '/auth/oauth') {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      await readBody(req);
      const id = req.headers['clientid'];
      const secret = req.headers['clientsecret'];
      const user = id === DEFAULTS.clientId && secret === DEFAULTS.clientSecret;
      const subscription =
        id === DEFAULTS.subscriptionClientId && secret === DEFAULTS.subscriptionClientSecret;
      // User-level clients belong on /auth/oidc, subscription-level ones on /auth/oauth; 'shared' accepts both.
      const ok =
        dialect.oauthClients === 'split'
          ? path === '/auth/oidc'
            ? user
            : subscription
          : user || subscription;
      if (!ok) {
        return json(401, { status: 401, error: 'Unauthorized', message: 'Invalid client credentials' });
      }
      const token = await authority.issue({ ttlSec: qualysTtl, sub: String(id), source: 'gateway' });
      return { status: 200, contentType: 'text/plain', body: token };
    }
    if (path === '/auth') {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      const form = new URLSearchParams(await readBody(req));
      if (form.get('token') !== 'true') throw new HttpError(400, "form field 'token' must be 'true'");
      if (form.get('username') !== DEFAULTS.username || form.get('password') !== DEFAULTS.password) {
        return json(401, { status: 401, error: 'Unauthorized', message: 'Bad username or password' });
      }
      const token = await authority.issue({ ttlSec: qualysTtl, sub: DEFAULTS.username, source: 'gateway' });
      return { status: 201, contentType: 'text/plain', body: token };
    }
    if (path === '/oauth2/token') {
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      const form = new URLSearchParams(await readBody(req));
      let clientId = form.get('client_id');
      let clientSecret = form.get('client_secret');
      const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
      if (basic) {
        const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':');
        clientId = decodeURIComponent(id ?? '');
        clientSecret = decodeURIComponent(secret ?? '');
      }
      const grant = form.get('grant_type');
      const oauthError = (status: number, error: string, description: string) =>
        json(status, { error, error_description: description });
      if (clientId !== DEFAULTS.clientId)
        return oauthError(401, 'invalid_client', 'Client authentication failed');
      let sub: string;
      if (grant === 'password') {
        if (clientSecret && clientSecret !== DEFAULTS.clientSecret)
          return oauthError(401, 'invalid_client', 'Client authentication failed');
        if (form.get('username') !== DEFAULTS.username || form.get('password') !== DEFAULTS.password) {
          return oauthError(400, 'invalid_grant', 'The credentials provided were invalid.');
        }
        sub = DEFAULTS.username;
      } else if (grant === 'client_credentials') {
        if (clientSecret !== DEFAULTS.clientSecret)
          return oauthError(401, 'invalid_client', 'Client authentication failed');
        sub = clientId;
      } else {
        return oauthError(400, 'unsupported_grant_type', `grant_type '${grant ?? ''}' is not supported`);
      }
      const token =
        dialect.idpAccessToken === 'opaque'
          ? randomBytes(24).toString('base64url')
          : await authority.issue({ ttlSec: idpTtl, sub, source: 'idp' });
      return json(200, {
        token_type: 'Bearer',
        expires_in: idpTtl,
        access_token: token,
        scope: form.get('scope') ?? 'openid profile',
        id_token: await authority.issue({ ttlSec: idpTtl, sub, source: 'idp' }),
      });
    }
    return undefined;
  }

  // ------------------------------------------------------------ data endpoints
  function pciList(q: URLSearchParams): Reply {
    const offset = intParam(q.get('offset'), 'offset', 1, 1e9, 1);
    const limit = intParam(q.get('limit'), 'limit', 1, 1000, 10);
    const total = pciTotal();
    const served =
      dialect.pciFetchRange === 'short'
        ? Math.max(1, Math.floor(limit / 2))
        : dialect.pciFetchRange === 'ragged'
          ? 1 + (hash32(seed, 12, offset) % limit)
          : limit;
    const list = [];
    for (let p = offset - 1; p < Math.min(total, offset - 1 + served); p++) list.push(pciRecord(pciIdAt(p)));
    const fetchRange = list.length ? `${offset}-${offset + list.length - 1}` : `${offset}-${offset - 1}`;
    const insert = dialect.pciInsertAfterFirstPage;
    if (offset === 1 && insert && pciInsertsLeft > 0) {
      // New scans arrive right after this page is answered: pages still in flight see another totalCount.
      pciInsertsLeft--;
      pciInserted += insert.count;
    }
    return json(200, {
      responseApiVersion: 'V1',
      data: { totalCount: total, fetchRange, scanInfoList: list },
    });
  }

  async function certviewList(req: IncomingMessage, version: string): Promise<Reply> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST with a JSON body');
    const text = await readBody(req);
    let body: Record<string, unknown>;
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new HttpError(400, 'request body is not valid JSON');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body))
      throw new HttpError(400, 'request body must be a JSON object');
    const num = (v: unknown, name: string, min: number, max: number, dflt: number) => {
      if (v === undefined) return dflt;
      if (typeof v !== 'number' || !Number.isInteger(v))
        throw new HttpError(400, `'${name}' must be an integer`);
      if (v < min || v > max)
        throw new HttpError(400, `'${name}' must be between ${min} and ${max}, got ${v}`);
      return v;
    };
    const pageNumber = num(body.pageNumber, 'pageNumber', 0, 1e7, 0);
    const pageSize = num(body.pageSize, 'pageSize', 1, 200, 10);
    const assetType = body.assetType;
    if (
      assetType !== undefined &&
      assetType !== 'ALL' &&
      assetType !== 'MANAGED' &&
      assetType !== 'UNMANAGED'
    ) {
      throw new HttpError(400, "'assetType' must be ALL, MANAGED or UNMANAGED");
    }
    if (
      body.filter !== undefined &&
      typeof body.filter !== 'string' &&
      (typeof body.filter !== 'object' || body.filter === null)
    ) {
      throw new HttpError(400, "'filter' must be a QQL string or a filter object");
    }
    const first = pageNumber * pageSize;
    if (version === 'v1' && first + pageSize > 10_000) {
      throw new HttpError(
        400,
        'v1 returns at most 10,000 results; use /certview/v2/certificates for larger result sets',
      );
    }
    const list = [];
    if (certInserted === 0 && dialect.certviewAssetType !== 'managed-by-default') {
      for (let i = first; i < Math.min(counts.certview, first + pageSize); i++)
        if (certVisible(i)) list.push(certRecord(i));
    } else {
      const listed: number[] = [];
      for (let p = 0; p < counts.certview + certInserted && listed.length < first + pageSize; p++) {
        const i = certIndexAt(p);
        if (certListed(i, assetType)) listed.push(i);
      }
      for (const i of listed.slice(first)) if (certVisible(i)) list.push(certRecord(i));
    }
    const insert = dialect.certviewInsertAfterFirstPage;
    if (pageNumber === 0 && insert && certInsertsLeft > 0) {
      certInsertsLeft--;
      certInserted += insert.count;
    }
    return json(200, list);
  }

  /** The order a new scroll serves its events in, per the dialect and the request's `sort` (and its repeats). */
  function edrSequence(f: EdrFilter, sort: ReturnType<typeof parseEdrSort>): Iterable<number> {
    const order = edrOrder(f, sort);
    if ((dialect.edrRepeat ?? 'none') === 'none') return order;
    return (function* () {
      for (const i of order) {
        yield i;
        if (i % 5 === 2) yield i; // served twice in a row: the same id and content
      }
    })();
  }

  function edrOrder(f: EdrFilter, sort: ReturnType<typeof parseEdrSort>): Iterable<number> {
    switch (dialect.edrOrder ?? 'newest-first-unless-sorted') {
      case 'ascending':
        return edrIndexes(f, 'dateTime', 'asc');
      case 'newest-first':
        return edrIndexes(f, 'dateTime', 'desc');
      case 'shuffled': {
        const list = [...edrIndexes(f, 'dateTime', 'asc')];
        for (let k = list.length - 1; k > 0; k--) {
          const j = hash32(seed, 13, k) % (k + 1);
          [list[k], list[j]] = [list[j]!, list[k]!];
        }
        return list;
      }
      case 'newest-first-unless-sorted':
        return sort ? edrIndexes(f, sort.field, sort.dir) : edrIndexes(f, 'dateTime', 'desc');
    }
  }

  function edrReply(data: Record<string, unknown>[], scrollId: string | undefined): Reply {
    const where = dialect.edrContinuation ?? 'body';
    const headers: Record<string, string> = {};
    if (scrollId && (where === 'header' || where === 'x-header'))
      headers[where === 'header' ? 'scrollId' : 'X-Scroll-Id'] = scrollId;
    if (dialect.edrBody === 'array') return json(200, data, headers);
    return json(200, scrollId && where === 'body' ? { data, scrollId } : { data }, headers);
  }

  function edrScroll(q: URLSearchParams, fault: FaultSpec | undefined): Reply {
    const now = Date.now();
    for (const [id, s] of scrolls) if (now - s.lastUsed > scrollTtlMs) scrolls.delete(id);
    const scrollId = q.get('scrollId');
    let scroll: Scroll | undefined;
    if (scrollId) {
      scroll = scrolls.get(scrollId);
      if (fault?.kind === 'scroll-expire' || !scroll) {
        scrolls.delete(scrollId);
        throw new HttpError(400, `scrollId '${scrollId}' has expired or is invalid; start a new scroll`);
      }
    } else {
      const f = edrStateOf(q, parseEdrFilter(q.get('filter'), qqlDialect()));
      const sort = parseEdrSort(q.get('sort'), qqlDialect());
      scroll = {
        rest: edrSequence(f, sort)[Symbol.iterator](),
        pageSize: intParam(q.get('pageSize'), 'pageSize', 1, 5000, 1000),
        lastUsed: now,
      };
    }
    const data: Record<string, unknown>[] = [];
    while (data.length < scroll.pageSize) {
      const next = scroll.rest.next();
      if (next.done) break;
      data.push(edrRecord(next.value));
    }
    scroll.lastUsed = now;
    if (data.length === 0) {
      if (scrollId) scrolls.delete(scrollId);
      return edrReply(data, undefined);
    }
    const id = scrollId ?? randomBytes(12).toString('base64url');
    scrolls.set(id, scroll);
    return edrReply(data, id);
  }

  function edrCount(q: URLSearchParams): Reply {
    const mode = dialect.edrCount ?? 'present';
    if (mode === 'absent') throw new HttpError(404, 'no such endpoint: GET /ioc/events/count');
    if (mode === 'not-allowed') throw new HttpError(405, 'method not allowed');
    const f = edrStateOf(q, parseEdrFilter(q.get('filter'), qqlDialect()));
    let n = 0;
    if (f.field === 'dateTime' && !f.type && !f.activeOnly && edrClock === undefined && !skewMs()) {
      const { first, end } = edrRange(f);
      n = Math.max(0, end - first);
    } else {
      for (const _ of edrIndexes(f, f.field, 'asc')) n++;
    }
    return json(200, { count: mode === 'disagree' ? n + 1 : n });
  }

  function mobileList(q: URLSearchParams, fault: FaultSpec | undefined): Reply {
    const action = q.get('action');
    if (action !== 'list') {
      return xml(
        400,
        simpleReturnXml(
          1901,
          `Unrecognized or missing parameter: action (expected 'list', got '${action ?? ''}')`,
        ),
      );
    }
    let limit: number;
    let idMin: number;
    try {
      limit = intParam(q.get('truncation_limit'), 'truncation_limit', 1, 1_000_000, 1000);
      idMin = intParam(q.get('id_min'), 'id_min', 0, 2 ** 31, 0);
    } catch (err) {
      return xml(400, simpleReturnXml(1905, (err as Error).message));
    }
    let window: MobileWindow;
    try {
      window = mobileWindow(q.get('detection_updated_since'), q.get('detection_updated_before'));
    } catch (err) {
      return xml(400, simpleReturnXml(1905, (err as Error).message));
    }
    const firstIndex = Math.max(0, Math.ceil((idMin - MOBILE_BASE_ID) / 3));
    // The batch: the next `limit` assets the window lists, from id_min on; more = another one follows.
    let body = '';
    let listed = 0;
    let lastIndex = -1;
    let more = false;
    for (let i = firstIndex; i < counts.mobile; i++) {
      const asset = mobileListed(i, window);
      if (!asset) continue;
      if (listed === limit) {
        more = true;
        break;
      }
      body += mobileAssetXml(asset);
      listed++;
      lastIndex = i;
    }
    let warning = '';
    if (more) {
      const next =
        (dialect.mobileUrlFilters ?? 'kept') === 'kept' ? new URLSearchParams(q) : new URLSearchParams();
      const nextIndex =
        dialect.mobileIdMin === 'last'
          ? lastIndex
          : dialect.mobileIdMin === 'backwards'
            ? Math.max(0, lastIndex - 2)
            : lastIndex + 1;
      next.set('id_min', String(mobileAssetId(nextIndex)));
      next.set('action', 'list');
      next.set('truncation_limit', String(limit));
      const origin =
        fault?.kind === 'offsite-url'
          ? (fault.url ?? 'https://evil.example.com')
          : (dialect.mobileUrlHost ?? url);
      const path = dialect.mobileUrlPath ?? '/sem/v1/assetList';
      warning =
        `<WARNING><CODE>1980</CODE><TEXT>${limit} record limit exceeded. Use URL to get next batch of results.</TEXT>` +
        `<URL>${cdata(`${origin}${path}?${next.toString()}`)}</URL></WARNING>`;
    }
    return xml(
      200,
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
        `<!DOCTYPE ASSET_LIST_VM_DETECTION_OUTPUT SYSTEM "${url}/sem/xapi/v1/asset/asset_list_output.dtd">\n` +
        `<ASSET_LIST_VM_DETECTION_OUTPUT><RESPONSE><DATETIME>${new Date().toISOString()}</DATETIME>` +
        `<ASSET_LIST>${body}</ASSET_LIST>${warning}</RESPONSE></ASSET_LIST_VM_DETECTION_OUTPUT>\n` +
        '<!-- CONFIDENTIAL AND PROPRIETARY INFORMATION. Qualys provides the QualysGuard Service "As Is". -->\n',
    );
  }

  function limitHeaders(): Record<string, string> {
    const h: Record<string, string> = {};
    if (limits.rate) {
      const left = Math.max(0, limits.rate.calls - windowCalls);
      h['X-RateLimit-Limit'] = String(limits.rate.calls);
      h['X-RateLimit-Window-Sec'] = String(limits.rate.windowSec);
      h['X-RateLimit-Remaining'] = String(left);
      h['X-RateLimit-ToWait-Sec'] = String(
        left > 0
          ? 0
          : Math.max(1, Math.ceil((windowStart + limits.rate.windowSec * 1000 - Date.now()) / 1000)),
      );
    }
    if (limits.concurrency) {
      const name = dialect.concurrencyHeader.replace(/-Limit$/, '');
      h[`${name}-Limit`] = String(limits.concurrency);
      h[`${name}-Running`] = String(running);
    }
    return h;
  }

  function limitReply(path: string, code: 1960 | 1965, waitSec: number): Reply {
    stats.rejected++;
    const repeated = lastBlocked;
    lastBlocked = true;
    const headers: Record<string, string> = { ...limitHeaders(), 'X-RateLimit-ToWait-Sec': String(waitSec) };
    const header = dialect.rateLimitWaitHeader;
    if (header === 'never' || (header === 'repeat' && !repeated)) delete headers['X-RateLimit-ToWait-Sec'];
    const body =
      code === 1965
        ? rateLimitBody(dialect.rateLimitBody, waitSec)
        : { text: 'Concurrency limit exceeded. Too many API requests are running.', items: {} };
    if (isClassic(path)) return { ...xml(409, simpleReturnWithItems(code, body.text, body.items)), headers };
    return json(429, { status: 429, error: 'Too Many Requests', code, message: body.text }, headers);
  }

  /** 401 (or 400 for a missing apiVersion) when a data request's credentials do not fit its API's dialect. */
  async function authorizeData(req: IncomingMessage, path: string): Promise<Reply | undefined> {
    const unauthorized = (message: string) => json(401, { status: 401, error: 'Unauthorized', message });
    const header = req.headers.authorization ?? '';
    if (path.startsWith('/pci/')) {
      if (dialect.pciRequireApiVersion && req.headers['apiversion'] !== 'V1') {
        return json(400, {
          status: 400,
          error: 'Bad Request',
          message: "header 'apiVersion: V1' is required",
        });
      }
      const basic = /^Basic\s+(\S+)$/i.exec(header);
      if (basic) {
        if (dialect.pciAuth === 'bearer-only') return unauthorized('Not authenticated');
        const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const ok =
          colon > 0 &&
          decoded.slice(0, colon) === DEFAULTS.pciUsername &&
          decoded.slice(colon + 1) === DEFAULTS.pciPassword;
        return ok ? undefined : unauthorized('Bad username or password');
      }
      const check = await authority.check(header);
      if (!check.ok) return unauthorized(check.message);
      if (dialect.pciAuth === 'documented' && check.source !== 'idp')
        return unauthorized('Not authenticated');
      return undefined;
    }
    if (isApi(path)) {
      // The API server wants X-Requested-With on every call [doc]; Basic is the Qualys user, bearer the gateway's.
      if (!req.headers['x-requested-with']) {
        return xml(400, simpleReturnXml(1903, 'Missing required header: X-Requested-With'));
      }
      const basic = /^Basic\s+(\S+)$/i.exec(header);
      if (basic) {
        const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const ok =
          colon > 0 &&
          decoded.slice(0, colon) === DEFAULTS.username &&
          decoded.slice(colon + 1) === DEFAULTS.password;
        return ok ? undefined : xml(401, simpleReturnXml(2000, 'Bad Login/Password'));
      }
      if (dialect.vmAuth === 'basic-only') return xml(401, simpleReturnXml(2000, 'Bad Login/Password'));
    }
    const check = await authority.check(header);
    return check.ok ? undefined : unauthorized(check.message);
  }

  function errorReply(path: string, status: number, message: string): Reply {
    if (isSem(path) || isApi(path))
      return xml(status, simpleReturnXml(status === 404 ? 1904 : 1905, message));
    return json(status, { status, error: status === 404 ? 'Not Found' : 'Bad Request', message });
  }

  async function handleData(req: IncomingMessage, res: ServerResponse, u: URL): Promise<Reply | 'handled'> {
    const path = u.pathname;
    const refused = await authorizeData(req, path);
    if (refused) return refused;

    const isScroll = path === '/ioc/events/scroll' && u.searchParams.has('scrollId');
    const fault = faults.take(path, (kind) => {
      if (kind === 'scroll-expire') return isScroll;
      if (kind === 'offsite-url') return path.startsWith('/sem/');
      if (kind === 'pci-insert') return path.startsWith('/pci/');
      return true;
    });
    if (fault) {
      switch (fault.kind) {
        case 'expire-token':
          authority.revokeAll();
          return json(401, { status: 401, error: 'Unauthorized', message: 'JWT expired' });
        case 'status':
          return isSem(path) || isApi(path)
            ? xml(
                fault.status ?? 500,
                simpleReturnXml(999, 'Internal error. Please contact customer support.'),
              )
            : json(fault.status ?? 500, {
                status: fault.status ?? 500,
                error: 'Server Error',
                message: 'simulated failure',
              });
        case 'reset':
          req.socket.destroy();
          return 'handled';
        case 'stall': {
          if (fault.ms !== undefined) setTimeout(() => req.socket.destroy(), fault.ms).unref();
          return 'handled';
        }
        case 'rate-limit':
          return limitReply(path, 1965, fault.waitSec ?? 1);
        case 'concurrency-limit':
          return limitReply(path, 1960, fault.waitSec ?? 1);
        case 'simple-return': {
          const code = fault.code ?? 2003;
          const text = ACCOUNT_CODE_TEXT[code] ?? `Request refused (code ${code}).`;
          return isClassic(path)
            ? xml(409, simpleReturnWithItems(code, text))
            : json(409, { status: 409, error: 'Conflict', code, message: text });
        }
        case 'pci-insert':
          pciInserted += fault.count ?? 1;
          break;
        case 'redirect':
          return redirectReply(fault, u);
        default:
          break;
      }
    }

    // Limits (after faults, so a fault is deterministic regardless of limits).
    if (limits.rate) {
      const now = Date.now();
      if (now - windowStart >= limits.rate.windowSec * 1000) {
        windowStart = now;
        windowCalls = 0;
      }
      if (windowCalls >= limits.rate.calls) {
        return limitReply(
          path,
          1965,
          Math.max(1, Math.ceil((windowStart + limits.rate.windowSec * 1000 - now) / 1000)),
        );
      }
      windowCalls++;
    }
    if (limits.concurrency && running > limits.concurrency) return limitReply(path, 1960, 1);
    lastBlocked = false;

    // The latency is the page's response time: generating the page counts towards it, as it would on a
    // real server (so benchmarks measure the exporter, not the simulator's data generator).
    const pageStarted = performance.now();

    let reply: Reply;
    if (path === '/pci/scan/list') {
      if (req.method !== 'GET') throw new HttpError(405, 'use GET');
      reply = pciList(u.searchParams);
    } else if (/^\/certview\/[^/]+\/certificates$/.test(path)) {
      const version = path.split('/')[2]!;
      if (!(dialect.certviewVersions ?? ['v1', 'v2']).includes(version))
        throw new HttpError(404, `no such endpoint: ${req.method} ${path}`);
      reply = await certviewList(req, version);
    } else if (path === '/ioc/events/scroll') {
      if (req.method !== 'GET') throw new HttpError(405, 'use GET');
      reply = edrScroll(u.searchParams, fault);
    } else if (path === '/ioc/events/count') {
      if (req.method !== 'GET') throw new HttpError(405, 'use GET');
      reply = edrCount(u.searchParams);
    } else if (path === '/sem/v1/assetList') {
      reply = mobileList(u.searchParams, fault);
    } else if (isApi(path)) {
      reply = await apiList(req, u, fault);
    } else {
      throw new HttpError(404, `no such endpoint: ${req.method} ${path}`);
    }

    const left = latencyMs - (performance.now() - pageStarted);
    if (left > 0) await new Promise((r) => setTimeout(r, left));

    if (reply.chunks && (fault?.kind === 'malformed' || fault?.kind === 'truncated')) {
      // A streamed listing that breaks after its first chunks: cut short, or with garbage where a record was.
      const all = [...reply.chunks];
      const kept = all.slice(0, Math.max(1, Math.floor(all.length / 2)));
      if (fault.kind === 'malformed') kept.push('<HOST><ID>1</I<VULN></');
      res.writeHead(reply.status, { 'content-type': reply.contentType, ...limitHeaders() });
      res.end(kept.join(''));
      return 'handled';
    }
    if (fault?.kind === 'malformed') {
      reply = {
        ...reply,
        body:
          reply.contentType === 'application/xml'
            ? '<ASSET_LIST_VM_DETECTION_OUTPUT><RESPONSE><ASSET_LIST><ASSET><ID>1</I'
            : '{"data": [ {"id": "x", ',
      };
    }
    if (fault?.kind === 'truncated') {
      // A clean end of a chunked body that stops half-way, as proxies in the field have produced.
      res.writeHead(reply.status, {
        'content-type': reply.contentType,
        date: new Date(Date.now() + skewMs()).toUTCString(),
        ...limitHeaders(),
      });
      res.end(reply.body.slice(0, Math.floor(reply.body.length / 2)));
      return 'handled';
    }
    return { ...reply, headers: { ...limitHeaders(), ...reply.headers } };
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', url);
    const path = u.pathname;
    stats.requests++;
    stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
    if (req.headers.authorization) stats.authHeadersSeen++;
    const isData = DATA_PREFIXES.some((p) => path.startsWith(p));
    if (isData) {
      running++;
      stats.maxConcurrent = Math.max(stats.maxConcurrent, running);
    }
    let released = false;
    const release = () => {
      if (isData && !released) {
        released = true;
        running--;
      }
    };
    res.on('close', release);

    void (async () => {
      let reply: Reply | 'handled' | undefined;
      try {
        reply = isData ? await handleData(req, res, u) : await handleAuth(req, u);
        reply ??= errorReply(path, 404, `no such endpoint: ${req.method} ${path}`);
      } catch (err) {
        if (err instanceof HttpError) reply = errorReply(path, err.status, err.message);
        else reply = errorReply(path, 500, 'internal simulator error');
      }
      if (reply === 'handled' || res.headersSent || res.destroyed) return;
      // The simulator's clock: real time + the dialect's skew (node would send real time).
      reply = {
        ...reply,
        headers: { date: new Date(Date.now() + skewMs()).toUTCString(), ...reply.headers },
      };
      if (reply.chunks) {
        // A produced listing streams as it comes; under a mutator (the fuzz suites) it is joined to be rewritten.
        if (!mutator) {
          await writeChunks(res, reply, opts.streamBytesPerSec);
          return;
        }
        reply = { ...reply, body: [...reply.chunks].join(''), chunks: undefined };
      }
      const headers: [string, string][] = [
        ['content-type', reply.contentType],
        ['content-length', String(Buffer.byteLength(reply.body))],
        ...Object.entries(reply.headers ?? {}),
      ];
      let wire: WireReply = { status: reply.status, headers, body: reply.body };
      const mutated = mutator?.({
        path,
        method: req.method ?? 'GET',
        query: u.searchParams,
        reply: wire,
        nth: ++served,
      });
      if (mutated) {
        stats.mutated++;
        wire = mutated;
      }
      res.writeHead(wire.status, wire.headers.flat());
      res.end(wire.body);
    })();
  });

  return {
    url,
    port,
    tokenUrl: `${url}/oauth2/token`,
    jwksUrl: `${url}${JWKS_PATH}`,
    issuer,
    audience,
    defaults: { ...DEFAULTS },
    faults,
    issueToken: (o) => authority.issue(o),
    setLatency: (ms) => {
      latencyMs = ms;
    },
    setMutator: (m) => {
      mutator = m;
    },
    setLimits: (l) => {
      limits = l;
      windowStart = Date.now();
      windowCalls = 0;
    },
    setDialect: (d) => {
      const next = { ...dialect, ...d };
      checkDialect(next, 'setDialect');
      dialect = next;
      if (d.pciInsertAfterFirstPage) pciInsertsLeft = d.pciInsertAfterFirstPage.times ?? 1;
      if (d.certviewInsertAfterFirstPage) certInsertsLeft = d.certviewInsertAfterFirstPage.times ?? 1;
    },
    dialect: () => ({ ...dialect }),
    stats: () => ({ ...stats, byPath: { ...stats.byPath } }),
    expectedIds: function* (module, o) {
      for (const i of expectedIndexes(module, o)) yield idAt(module, i);
    },
    expectedRecords: function* (module, o) {
      for (const i of expectedIndexes(module, o)) yield recordAt(module, i, o);
    },
    vmdrProcessed: (ids, at) => {
      const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
      if (Number.isNaN(ms)) throw new Error(`vmdrProcessed: '${String(at)}' is not a time`);
      for (const id of ids) {
        const i = vmdrHostIndex(Number(id));
        if (!Number.isInteger(i) || i < 0 || i >= counts.vmdr) {
          throw new Error(`vmdrProcessed: ${String(id)} is not a VMDR host ID of this simulator`);
        }
        vmdrUpdates.set(i, [...(vmdrUpdates.get(i) ?? []), ms]);
      }
    },
    kbModified: (qids, at) => {
      const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
      if (Number.isNaN(ms)) throw new Error(`kbModified: '${String(at)}' is not a time`);
      for (const qid of qids) {
        const j = (Number(qid) - KB_BASE_QID) / 7;
        if (!Number.isInteger(j) || j < 0 || j >= counts.kb) {
          throw new Error(`kbModified: ${String(qid)} is not a QID of this simulator`);
        }
        kbUpdates.set(j, [...(kbUpdates.get(j) ?? []), ms]);
      }
    },
    mobileUpdated: (ids, at) => {
      const ms = typeof at === 'string' ? Date.parse(at) : at.getTime();
      if (Number.isNaN(ms)) throw new Error(`mobileUpdated: '${String(at)}' is not a time`);
      for (const id of ids) {
        const n = Number(id);
        const i = (n - MOBILE_BASE_ID) / 3;
        if (!Number.isInteger(i) || i < 0 || i >= counts.mobile) {
          throw new Error(`mobileUpdated: ${String(id)} is not a Mobile asset ID of this simulator`);
        }
        mobileUpdates.set(i, [...(mobileUpdates.get(i) ?? []), ms]);
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the simulator holds for the run described by `range`: the window or filters its manifest records. */
export function expectedOptions(
  module: SimModule,
  range: Record<string, unknown> | undefined,
): ExpectedOptions | undefined {
  if (!range) return undefined;
  const text = (k: string) => (range[k] as string | null | undefined) ?? undefined;
  switch (module) {
    case 'mobile-assets':
      return { updatedSince: text('detectionUpdatedSince'), updatedBefore: text('detectionUpdatedBefore') };
    case 'vmdr-detections':
      return {
        processedAfter: text('vmProcessedAfter'),
        processedBefore: text('vmProcessedBefore'),
        version: text('apiVersion'),
        filters: range.filters as Record<string, string> | undefined,
      };
    case 'knowledgebase':
      return {
        modifiedAfter: text('lastModifiedAfter'),
        version: text('apiVersion'),
        filters: range.filters as Record<string, string> | undefined,
      };
    case 'edr-events':
      return {
        from: range.from as string,
        to: range.to as string,
        filter: text('filter'),
        // event.eventprocesstime as documented (older manifests: event.eventProcessedTime).
        timeField:
          range.timeField === 'event.datetime' || range.timeField === undefined
            ? 'dateTime'
            : 'eventProcessedTime',
        ...(typeof range.state === 'string' ? { state: range.state } : {}),
      };
    default:
      return undefined;
  }
}

export { FAULT_KINDS, parseFaultArg, type FaultKind, type FaultSpec } from './faults';
export { parseDialectArg, type SimDialect } from './dialect';
export type { Mutator, WireReply } from './mutate';
export { edrTimeMs };
