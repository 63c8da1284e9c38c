import { ParseError } from '../errors';
import type { QualysClient, QualysResponse } from '../qualys/types';
import { parseXml, simpleReturnError } from './xml';
import type { Cursor, ExportRecord, ModuleDef } from './types';

/** Mobile paging: null url = the first request; otherwise the WARNING/URL truncation link to follow. */
export interface MobileCursor extends Cursor {
  url: string | null;
  truncationLimit: number;
}

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

export const mobileAssets: ModuleDef = {
  name: 'mobile-assets',
  start: ({ config }) =>
    ({ url: null, truncationLimit: config.modules.mobile.truncationLimit }) satisfies MobileCursor,
  async *pages(client, raw, config) {
    let cursor = raw as MobileCursor;
    const m = config.modules.mobile;
    for (;;) {
      const page = await client.call(
        cursor.url
          ? { url: cursor.url, accept: 'xml', label: 'mobile-assets next batch' }
          : {
              url: '/sem/v1/assetList',
              accept: 'xml',
              query: {
                action: 'list',
                truncation_limit: cursor.truncationLimit,
                detection_updated_since: m.detectionUpdatedSince,
                includeFields: m.includeFields,
              },
              label: 'mobile-assets first batch',
            },
        (res) => parseMobilePage(client, res),
      );
      if (page.next !== null && page.next === cursor.url) {
        throw new ParseError('VMDR Mobile truncation URL points back to the same batch; refusing to loop');
      }
      cursor = { url: page.next, truncationLimit: cursor.truncationLimit };
      const done = page.next === null;
      yield { records: page.assets, cursor, done };
      if (done) return;
    }
  },
  kind: () => 'snapshot',
  prove: async () => [
    {
      name: 'mobile.last-batch',
      outcome: 'passed',
      detail: 'followed truncation URLs to a batch without WARNING',
    },
  ],
  commit: () => ({}),
  describe: (c) => ({ truncationLimit: (c as MobileCursor).truncationLimit }),
  recordId: (r) => String(r.ID),
};
