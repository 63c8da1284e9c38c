import { ConfigError, IncompleteError, OriginError, ParseError } from '../errors';
import { silentLogger, type Logger } from '../log';
import type { QualysClient, QualysResponse } from '../qualys/types';
import { parseXml, simpleReturnError } from './xml';
import type { Cursor, ExportRecord, ModuleDef } from './types';

/** Mobile paging: null url = the first request; otherwise the WARNING/URL truncation link to follow. */
export interface MobileCursor extends Cursor {
  url: string | null;
  truncationLimit: number;
  /** Highest asset ID written so far (decimal text): IDs must strictly increase within and across batches. */
  lastId?: string;
  batches?: number;
  /** Truncation URLs that named another host and were re-issued on the configured origin. */
  rehomed?: number;
  rehomedFrom?: string[];
}

/** The only path a truncation URL may continue on. */
export const MOBILE_PATH = '/sem/v1/assetList';

interface MobilePage {
  assets: ExportRecord[];
  next: string | null;
}

export function parseMobilePage(
  client: Pick<QualysClient, 'assertSameOrigin'>,
  res: QualysResponse,
): MobilePage {
  const doc = parseXml(res.text);
  const apiError = simpleReturnError(doc);
  if (apiError) throw apiError;
  const out = doc.ASSET_LIST_VM_DETECTION_OUTPUT as { RESPONSE?: Record<string, unknown> } | undefined;
  const response = out?.RESPONSE;
  if (!response || typeof response !== 'object') {
    throw new ParseError('VMDR Mobile response has no ASSET_LIST_VM_DETECTION_OUTPUT/RESPONSE');
  }
  const list = response.ASSET_LIST;
  let assets: ExportRecord[] = [];
  if (list && typeof list === 'object') {
    const a = (list as { ASSET?: unknown }).ASSET ?? [];
    if (!Array.isArray(a)) throw new ParseError('VMDR Mobile ASSET_LIST is malformed');
    assets = a as ExportRecord[];
  } else if (list !== undefined && list !== '') {
    throw new ParseError('VMDR Mobile ASSET_LIST is malformed');
  }
  for (const asset of assets) {
    if (!asset || typeof asset !== 'object' || typeof asset.ID !== 'string' || !asset.ID) {
      throw new ParseError('VMDR Mobile response has an ASSET without an ID');
    }
  }
  let next: string | null = null;
  const warning = response.WARNING as { CODE?: unknown; URL?: unknown; TEXT?: unknown } | undefined;
  if (warning) {
    if (String(warning.CODE) !== '1980' || typeof warning.URL !== 'string' || !warning.URL) {
      throw new ParseError(
        `VMDR Mobile WARNING without a usable truncation URL (code ${String(warning.CODE)})`,
      );
    }
    // Checked before anything is sent: the bearer token must never leave the configured origin.
    next = client.assertSameOrigin(warning.URL.trim()).href;
  }
  return { assets, next };
}

/**
 * Where to send the next batch request for a truncation URL. A URL on the configured origin is used as is. A URL
 * naming another host (as Qualys's own add-on assumes can happen: it never follows the URL's host) has its path and
 * query re-issued on the configured origin, so the token never leaves it. A URL that cannot be re-issued safely
 * (not http(s), credentials in it, or another path) is refused.
 */
export function resolveTruncationUrl(
  client: Pick<QualysClient, 'assertSameOrigin'>,
  raw: string,
  gatewayUrl: string,
): { url: URL; rehomedFrom?: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new OriginError('refusing to follow a malformed truncation URL from a VMDR Mobile response');
  }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password) {
    throw new OriginError(
      `refusing a VMDR Mobile truncation URL over ${u.protocol}//${u.host}: it cannot be re-issued safely; the token was not sent`,
    );
  }
  if (u.pathname.replace(/\/+$/, '') !== MOBILE_PATH) {
    throw new OriginError(
      `refusing a VMDR Mobile truncation URL for ${u.pathname} on ${u.origin}: only ${MOBILE_PATH} continues ` +
        'an asset list; the token was not sent',
    );
  }
  const origin = new URL(gatewayUrl).origin;
  if (u.origin === origin) return { url: client.assertSameOrigin(u.href) };
  const onOrigin = client.assertSameOrigin(`${origin}${u.pathname}${u.search}`);
  return { url: onOrigin, rehomedFrom: u.origin };
}

const idBig = (id: string) => {
  if (!/^\d{1,30}$/.test(id)) throw new ParseError(`VMDR Mobile asset ID '${id}' is not a decimal number`);
  return BigInt(id);
};

async function* mobilePages(
  client: QualysClient,
  start: MobileCursor,
  config: Parameters<ModuleDef['pages']>[2],
  log: Logger,
) {
  let cursor = start;
  const m = config.modules.mobile;
  const gatewayUrl = config.endpoints.gatewayUrl;
  if (!gatewayUrl) {
    throw new ConfigError('VMDR Mobile lives on the gateway: set QUALYS_PLATFORM or QUALYS_GATEWAY_URL');
  }
  for (;;) {
    let rehomedFrom: string | undefined;
    // The truncation URL is resolved here, before anything is sent: the parse keeps its {assets, next} contract
    // and only ever sees a resolver that answers with a URL on the configured origin.
    const resolver = {
      assertSameOrigin: (u: string) => {
        const r = resolveTruncationUrl(client, u, gatewayUrl);
        rehomedFrom = r.rehomedFrom;
        return r.url;
      },
    };
    const page = await client.call(
      cursor.url
        ? { url: cursor.url, accept: 'xml', label: 'mobile-assets next batch' }
        : {
            url: MOBILE_PATH,
            accept: 'xml',
            query: {
              action: 'list',
              truncation_limit: cursor.truncationLimit,
              detection_updated_since: m.detectionUpdatedSince,
              includeFields: m.includeFields,
            },
            label: 'mobile-assets first batch',
          },
      (res) => parseMobilePage(resolver, res),
    );
    if (page.next !== null && page.next === cursor.url) {
      throw new ParseError('VMDR Mobile truncation URL points back to the same batch; refusing to loop');
    }
    // IDs strictly increase within and across batches (the listing is by id_min). The one allowed repeat is the
    // previous batch's last asset at the top of the next one (an id_min that includes it): dropped by id.
    let last = cursor.lastId === undefined ? undefined : idBig(cursor.lastId);
    const records: ExportRecord[] = [];
    page.assets.forEach((asset, i) => {
      const id = idBig(asset.ID as string);
      if (last !== undefined && id <= last) {
        if (i === 0 && id === last) return;
        throw new IncompleteError(
          `VMDR Mobile asset IDs went backwards: ${String(id)} came after ${String(last)} ` +
            `(batch ${(cursor.batches ?? 0) + 1}); the listing cannot be proven complete`,
          {
            checks: [
              {
                name: 'mobile.ids-increasing',
                outcome: 'failed',
                expected: Number(last) + 1,
                actual: Number(id),
                detail: `asset ${String(id)} after ${String(last)}`,
              },
            ],
          },
        );
      }
      last = id;
      records.push(asset);
    });
    if (page.next !== null && records.length === 0) {
      throw new IncompleteError(
        `VMDR Mobile batch ${(cursor.batches ?? 0) + 1} brought no new asset but a truncation URL; refusing to loop`,
      );
    }
    if (rehomedFrom) {
      log.warn(
        'VMDR Mobile truncation URL named another host; re-issued its path and query on the configured origin',
        {
          urlOrigin: rehomedFrom,
          configured: new URL(gatewayUrl).origin,
        },
      );
    }
    const hosts = new Set(cursor.rehomedFrom ?? []);
    if (rehomedFrom) hosts.add(rehomedFrom);
    cursor = {
      url: page.next,
      truncationLimit: cursor.truncationLimit,
      lastId: last === undefined ? undefined : String(last),
      batches: (cursor.batches ?? 0) + 1,
      rehomed: (cursor.rehomed ?? 0) + (rehomedFrom ? 1 : 0),
      rehomedFrom: [...hosts].slice(0, 10),
    };
    const done = page.next === null;
    yield { records, cursor, done };
    if (done) return;
  }
}

export const mobileAssets: ModuleDef = {
  name: 'mobile-assets',
  start: ({ config }) =>
    ({
      url: null,
      truncationLimit: config.modules.mobile.truncationLimit,
      batches: 0,
    }) satisfies MobileCursor,
  pages: (client, cursor, config, log) =>
    mobilePages(client, cursor as MobileCursor, config, log ?? silentLogger),
  kind: () => 'snapshot',
  prove: async (final) => {
    const c = final as MobileCursor;
    return [
      {
        name: 'mobile.last-batch',
        outcome: c.url === null ? 'passed' : 'failed',
        actual: c.batches,
        detail: `followed truncation URLs through ${c.batches ?? '?'} batches to one without WARNING`,
      },
      {
        name: 'mobile.ids-increasing',
        outcome: 'passed',
        detail: `asset IDs strictly increased within and across batches (last ${c.lastId ?? 'none'})`,
      },
      {
        name: 'mobile.truncation-origin',
        outcome: 'passed',
        actual: c.rehomed ?? 0,
        detail: c.rehomed
          ? `${c.rehomed} truncation URLs named ${(c.rehomedFrom ?? []).join(', ')}; re-issued on the configured origin`
          : 'every truncation URL was on the configured origin',
      },
    ];
  },
  commit: () => ({}),
  describe: (c) => ({ truncationLimit: (c as MobileCursor).truncationLimit }),
  recordId: (r) => String(r.ID),
};
