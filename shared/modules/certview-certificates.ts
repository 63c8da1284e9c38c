import { parseJsonBody } from './json';
import { ParseError, QexportError } from '../errors';
import type { QualysResponse } from '../qualys/types';
import { prefetchOrdered } from './prefetch';
import type { Cursor, ExportRecord, ModuleDef } from './types';

export interface CertviewCursor extends Cursor {
  version: 'v1' | 'v2';
  pageNumber: number;
  pageSize: number;
  /** The run's filter, kept for the manifest. */
  filter?: unknown;
}

/** v1 serves at most this many results; v2 exists for larger sets. */
export const CERTVIEW_V1_CAP = 10_000;

export function parseCertviewPage(res: QualysResponse): ExportRecord[] {
  const body = parseJsonBody(res.text, 'CertView response');
  if (!Array.isArray(body)) throw new ParseError('CertView response is not a JSON array of certificates');
  for (const c of body) {
    if (!c || typeof c !== 'object' || Array.isArray(c))
      throw new ParseError('CertView response has a non-object entry');
  }
  return body as ExportRecord[];
}

export const certviewCertificates: ModuleDef = {
  name: 'certview-certificates',
  start: ({ config }) =>
    ({
      version: config.modules.certview.apiVersion,
      pageNumber: 0,
      pageSize: config.modules.certview.pageSize,
      filter: config.modules.certview.filter,
    }) satisfies CertviewCursor,
  async *pages(client, raw, config) {
    const cursor = raw as CertviewCursor;
    const { version, pageSize } = cursor;
    const { filter, includes } = config.modules.certview;
    const pageAt = (k: number) => cursor.pageNumber + k;
    const withinCap = (k: number) => version === 'v2' || (pageAt(k) + 1) * pageSize <= CERTVIEW_V1_CAP;
    const pages = prefetchOrdered({
      start: 0,
      width: config.http.concurrency,
      fetchAt: (k) =>
        client.call(
          {
            method: 'POST',
            url: `/certview/${version}/certificates`,
            body: {
              ...(filter !== undefined ? { filter } : {}),
              pageNumber: pageAt(k),
              pageSize,
              ...(includes?.length ? { includes } : {}),
            },
            label: `certview-certificates page ${pageAt(k)}`,
          },
          parseCertviewPage,
        ),
      mayFetch: withinCap,
      isLast: (page) => page.length < pageSize,
    });
    for await (const { k, result } of pages) {
      if (result.length > pageSize) {
        throw new ParseError(`CertView returned ${result.length} certificates for a page of ${pageSize}`);
      }
      const done = result.length < pageSize;
      yield {
        records: result,
        cursor: { version, pageNumber: pageAt(k) + 1, pageSize } satisfies CertviewCursor,
        done,
      };
      if (!done && !withinCap(k + 1)) {
        throw new QexportError(
          'certview-cap',
          `CertView v1 returns at most ${CERTVIEW_V1_CAP} certificates and this listing has more; ` +
            'set QUALYS_CERTVIEW_API_VERSION=v2',
        );
      }
    }
  },
  kind: () => 'snapshot',
  prove: async () => [
    { name: 'certview.last-page', outcome: 'passed', detail: 'pages read in order up to a short page' },
  ],
  commit: () => ({}),
  describe: (c) => {
    const cv = c as CertviewCursor;
    return { apiVersion: cv.version, pageSize: cv.pageSize, filter: cv.filter ?? null };
  },
  recordId: (r) => String(r.id ?? r.certhash),
};
