import { ConfigError, IncompleteError, ParseError, QexportError, QualysHttpError } from '../errors';
import { CERTVIEW_CERTIFICATES } from '../qualys/envelopes';
import { readJson } from '../qualys/shapes';
import type { QualysResponse } from '../qualys/types';
import { COUNT, journalMismatch } from '../export/state-shape';
import { any, int, obj, opt, str } from '../qualys/shapes';
import { idKey, KeySet, WordWriter, wordsOf, type Key64 } from './idset';
import { prefetchOrdered } from './prefetch';
import { takeJournal, type Cursor, type ExportRecord, type ModuleDef } from './types';

export interface CertviewCursor extends Cursor {
  /** API version in the path: v1, v2, v2.1, … */
  version: string;
  pageNumber: number;
  pageSize: number;
  /** The run's filter and asset type, kept for the manifest. */
  filter?: unknown;
  assetType?: string;
  /**
   * Distinct certificates written in this run. Their ids' 64-bit fingerprints (idset.ts) are in the pages' memos:
   * one seen again means the listing moved under the pages (or, about once in 10⁸ runs of a million, two ids share a
   * fingerprint: the run then stops the same loud way, never drops a certificate).
   */
  distinct?: number;
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

/** The set of a run's certificate fingerprints, from its journal (8 bytes each). */
function replaySeen(journal: readonly Uint8Array[], expected: number): KeySet {
  const key: Key64 = { hi: 0, lo: 0 };
  const seen = new KeySet(expected);
  for (const bytes of journal) {
    const w = wordsOf(bytes);
    for (let i = 0; i + 1 < w.length; i += 2) {
      key.hi = w[i]!;
      key.lo = w[i + 1]!;
      seen.add(key);
    }
  }
  return seen;
}

export const certviewCertificates: ModuleDef = {
  name: 'certview-certificates',
  start: ({ config }) =>
    ({
      version: config.modules.certview.apiVersion,
      pageNumber: 0,
      pageSize: config.modules.certview.pageSize,
      filter: config.modules.certview.filter,
      assetType: config.modules.certview.assetType,
      distinct: 0,
    }) satisfies CertviewCursor,
  async *pages(client, raw, config, _log, run) {
    const cursor = raw as CertviewCursor;
    const { version, pageSize } = cursor;
    const assetType = cursor.assetType ?? config.modules.certview.assetType;
    const { filter, includes } = config.modules.certview;
    const key: Key64 = { hi: 0, lo: 0 };
    // The fingerprints of the run's certificates, from the journal of the pages before `cursor` (8 bytes each);
    // the journal is taken, not kept, so its bytes can go once the set is built.
    const seen = replaySeen(takeJournal(run), cursor.distinct ?? 0);
    if (seen.size !== (cursor.distinct ?? 0)) {
      throw journalMismatch(
        'certview-certificates',
        `holds ${seen.size} distinct certificates; the checkpoint says ${cursor.distinct ?? 0}`,
      );
    }
    let distinct = seen.size;
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
      const memo = new WordWriter();
      for (const r of result) {
        const id = certId(r);
        if (!seen.add(idKey(r.id ?? r.certhash, key))) {
          throw new IncompleteError(
            `CertView certificate ${id} came again on page ${pageAt(k)}: the listing moved while it was read ` +
              '(or, far less likely, its id shares a 64-bit fingerprint with an earlier one)',
            {
              reread: true,
              checks: [
                { name: 'certview.no-repeats', outcome: 'failed', detail: `certificate ${id} seen twice` },
              ],
            },
          );
        }
        memo.pushKey(key);
      }
      distinct += result.length;
      const done = result.length === 0;
      const next: CertviewCursor = {
        version,
        pageNumber: pageAt(k) + 1,
        pageSize,
        filter: cursor.filter,
        assetType,
        distinct,
        ...(done ? { emptyPage: pageAt(k) } : {}),
      };
      yield { records: result, cursor: next, done, ...(memo.length ? { memo: memo.bytes() } : {}) };
      if (!done && !withinCap(k + 1)) {
        throw new QexportError(
          'certview-cap',
          `CertView v1 returns at most ${CERTVIEW_V1_CAP} certificates and this listing has more, so this run ` +
            'cannot finish: set QUALYS_CERTVIEW_API_VERSION=v2 (or later) and start over with ' +
            '`qexport state reset certview-certificates --yes`',
        );
      }
    }
  },
  kind: () => 'snapshot',
  prove: async (final, ctx) => {
    const c = final as CertviewCursor;
    const distinct = c.distinct ?? 0;
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
  identity: {
    fields: ['id', 'certhash'],
    unique: true,
    evidence:
      '[doc] the v2 sample names each certificate by id (certhash where id is absent); repeats re-read the run',
    key: certId,
  },
  runSettings: [
    {
      env: 'QUALYS_CERTVIEW_API_VERSION',
      value: (c) => c.modules.certview.apiVersion,
      onChange: 'refuse',
      why: 'pages of another API version are pages of another listing (v1 also stops at 10,000)',
    },
    {
      env: 'QUALYS_CERTVIEW_PAGE_SIZE',
      value: (c) => String(c.modules.certview.pageSize),
      onChange: 'refuse',
      why: 'pages are numbered, so a page of another size starts elsewhere in the listing',
    },
    {
      env: 'QUALYS_CERTVIEW_ASSET_TYPE',
      value: (c) => c.modules.certview.assetType,
      onChange: 'refuse',
      why: 'it decides which certificates are listed',
    },
    {
      env: 'QUALYS_CERTVIEW_FILTER',
      value: (c) =>
        c.modules.certview.filter === undefined ? undefined : JSON.stringify(c.modules.certview.filter),
      onChange: 'refuse',
      why: 'it decides which certificates are listed',
    },
    {
      env: 'QUALYS_CERTVIEW_INCLUDES',
      value: (c) => c.modules.certview.includes?.join(','),
      onChange: 'refuse',
      why: "it decides the fields of each certificate: one run's records would not all have the same",
    },
  ],
  state: {
    cursor: obj({
      version: str({ pattern: /^v\d+(\.\d+)*$/, about: 'a CertView API version (v1, v2, v2.1, …)' }),
      pageNumber: COUNT,
      pageSize: int({ min: 1 }),
      filter: opt(any()),
      assetType: opt(str()),
      distinct: opt(COUNT),
      emptyPage: opt(COUNT),
    }),
    committed: obj({}),
  },
};
