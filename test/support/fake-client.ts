import type { RunContext } from '../../shared/modules/types';
import { zeroStats } from '../../shared/qualys/client';
import { NO_CLOCK_READING } from '../../shared/qualys/clock';
import type { QualysClient, QualysResponse, QualysStream } from '../../shared/qualys/types';

/**
 * A QualysClient whose `call` the test scripts (pagers use nothing else of it): no HTTP, for unit tests of the
 * pagers' own logic. `calls` reports how many requests were asked, where the test counts them.
 */
export function fakeClient(opts: {
  call: QualysClient['call'];
  assertSameOrigin?: QualysClient['assertSameOrigin'];
  calls?: () => number;
}): QualysClient {
  return {
    call: opts.call,
    openStream: (req) => opts.call(req, (res) => oneChunk(res)),
    request: () => Promise.reject(new Error('unused')),
    assertSameOrigin: opts.assertSameOrigin ?? ((u) => new URL(u)),
    stats: () => ({ ...zeroStats(), calls: opts.calls?.() ?? 0 }),
    clock: () => NO_CLOCK_READING,
  };
}

/** A 200 response with this body (and headers). */
export function okResponse(
  text: string,
  headers: Record<string, string> = {},
  url = 'https://gw.example.com/x',
): QualysResponse {
  return { status: 200, headers: new Headers(headers), url, text };
}

/** A response as a stream of one chunk (its whole body): what a scripted `call` answers, to a streaming pager. */
export function oneChunk(res: QualysResponse): QualysStream {
  return {
    status: res.status,
    headers: res.headers,
    url: res.url,
    chunks: (async function* () {
      if (res.text) yield res.text;
    })(),
    cancel: () => undefined,
  };
}

/** A RunContext for a pager resumed with `journal` (the memos of the pages before its cursor); no scratch objects. */
export function journalRun(journal: readonly Uint8Array[]): RunContext {
  const none = () => Promise.reject(new Error('this test keeps no objects beside the state file'));
  return {
    runId: 'test-run',
    journal,
    scratch: { putJson: none, getJson: none, describe: (runId, name) => `scratch ${runId}/${name}` },
  };
}
