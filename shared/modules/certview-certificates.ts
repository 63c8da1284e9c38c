import { ConfigError, IncompleteError, ParseError, QexportError, QualysHttpError } from '../errors';
import { CERTVIEW_CERTIFICATES } from '../qualys/envelopes';
import { readJson } from '../qualys/shapes';
import type { QualysResponse } from '../qualys/types';
import { lazySetPrefix } from './lazy';
import { prefetchOrdered } from './prefetch';
import type { Cursor, ExportRecord, ModuleDef } from './types';

export interface CertviewCursor extends Cursor {
  /** API version in the path: v1, v2, v2.1, … */
  version: string;
  pageNumber: number;
  pageSize: number;
  /** The run's filter and asset type, kept for the manifest. */
  filter?: unknown;
  assetType?: string;
  /** Ids of the certificates written in this run: one seen again means the listing moved under the pages. */
  seen?: string[];
  /** Set by the page that came back empty: the listing was read to its end. */
  emptyPage?: number;
}

/** v1 serves at most this many results; later versions exist for larger sets. */
export const CERTVIEW_V1_CAP = 10_000;

export function parseCertviewPage(res: QualysResponse): ExportRecord[] {
  return readJson<ExportRecord[]>(res.text, CERTVIEW_CERTIFICATES);
}

/** A certificate's identity: its id (every digit, beyond 2^53 too; the declared shape requires one). */
const certId = (r: ExportRecord) => String(r.id);

export const certviewCertificates: ModuleDef = {
  name: 'certview-certificates',
  start: ({ config }) =>
    ({
      version: config.modules.certview.apiVersion,
      pageNumber: 0,
      pageSize: config.modules.certview.pageSize,
      filter: config.modules.certview.filter,
      assetType: config.modules.certview.assetType,
      seen: [],
    }) satisfies CertviewCursor,
  async *pages(client, raw, config) {
    const cursor = raw as CertviewCursor;
    const { version, pageSize } = cursor;
    const assetType = cursor.assetType ?? config.modules.certview.assetType;
    const { filter, includes } = config.modules.certview;
    const seen = new Set(cursor.seen ?? []);
    const path = `/certview/${version}/certificates`;
    const pageAt = (k: number) => cursor.pageNumber + k;
    const withinCap = (k: number) => version !== 'v1' || (pageAt(k) + 1) * pageSize <= CERTVIEW_V1_CAP;
    const pages = prefetchOrdered({
      start: 0,
      width: config.http.concurrency,
      fetchAt: (k) =>
        client
          .call(
            {
              method: 'POST',
              url: path,
              body: {
                ...(filter !== undefined ? { filter } : {}),
                pageNumber: pageAt(k),
                pageSize,
                assetType,
                ...(includes?.length ? { includes } : {}),
              },
              label: `certview-certificates page ${pageAt(k)}`,
            },
            parseCertviewPage,
          )
          .catch((err: unknown) => {
            if (err instanceof QualysHttpError && err.status === 404) {
              throw new ConfigError(
                `CertView answered 404 for POST ${path}: this tenant does not serve API version ${version}; ` +
                  'set QUALYS_CERTVIEW_API_VERSION to one it serves (e.g. v2, v2.1, v2.2)',
              );
            }
            throw err;
          }),
      mayFetch: withinCap,
      // A short page is not the end (the server may drop entries it will not show after paging): only an empty
      // page is.
      isLast: (page) => page.length === 0,
      // ... but after a short page the next one is most likely empty: fetch that one (it proves the end), no more.
      isShort: (page) => page.length < pageSize,
    });
    for await (const { k, result } of pages) {
      if (result.length > pageSize) {
        throw new ParseError(`CertView returned ${result.length} certificates for a page of ${pageSize}`);
      }
      for (const r of result) {
        const id = certId(r);
        if (seen.has(id)) {
          throw new IncompleteError(
            `CertView certificate ${id} came again on page ${pageAt(k)}: the listing moved while it was read`,
            {
              reread: true,
              checks: [
                { name: 'certview.no-repeats', outcome: 'failed', detail: `certificate ${id} seen twice` },
              ],
            },
          );
        }
        seen.add(id);
      }
      const done = result.length === 0;
      const next: CertviewCursor = {
        version,
        pageNumber: pageAt(k) + 1,
        pageSize,
        filter: cursor.filter,
        assetType,
        seen: undefined,
        ...(done ? { emptyPage: pageAt(k) } : {}),
      };
      // The ids up to this page, copied only if the cursor is read (checkpointed): O(page) per page, not O(run).
      lazySetPrefix(next, 'seen', seen);
      yield { records: result, cursor: next, done };
      if (!done && !withinCap(k + 1)) {
        throw new QexportError(
          'certview-cap',
          `CertView v1 returns at most ${CERTVIEW_V1_CAP} certificates and this listing has more; ` +
            'set QUALYS_CERTVIEW_API_VERSION=v2 (or later)',
        );
      }
    }
  },
  kind: () => 'snapshot',
  prove: async (final, ctx) => {
    const c = final as CertviewCursor;
    const distinct = c.seen?.length ?? 0;
    return [
      {
        name: 'certview.empty-page',
        outcome: c.emptyPage !== undefined ? 'passed' : 'failed',
        detail:
          c.emptyPage !== undefined
            ? `pages 0..${c.emptyPage - 1} read in order; page ${c.emptyPage} came back empty`
            : 'the listing ended without an empty page',
      },
      {
        name: 'certview.distinct-written',
        outcome: distinct === ctx.records ? 'passed' : 'failed',
        expected: distinct,
        actual: ctx.records,
        detail: 'records written vs distinct certificate ids',
      },
    ];
  },
  commit: () => ({}),
  describe: (c) => {
    const cv = c as CertviewCursor;
    return {
      apiVersion: cv.version,
      pageSize: cv.pageSize,
      assetType: cv.assetType ?? null,
      filter: cv.filter ?? null,
    };
  },
  recordId: (r) => certId(r),
};
