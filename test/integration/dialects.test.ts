import { afterAll, describe, expect, it } from 'vitest';
import type { Env, ModuleName } from '../../shared/config';
import { onlyCounts, startSimulator, type SimDialect, type SimOptions, type Simulator } from '../sim';
import {
  compareIds,
  expectedFor,
  manifestKeys,
  randomPageBudgets,
  readRunFromDir,
  recordKey,
  readStateFile,
  runUntilSettled,
  simRuns,
  testClient,
} from '../support/harness';

/**
 * The dialect matrix: every module × every way its API may plausibly behave where the documentation is silent
 * (test/sim SimDialect), each read in one go and interrupted at random points. Each cell ends one of two ways:
 * `done` with nothing lost, duplicated or extra against what the simulator holds, or `failed` with a message
 * naming what could not be proven and no manifest published. Never `done` with a gap.
 */
const NOW = () => new Date('2026-01-02T00:00:00.000Z');
const N = 47;

interface Cell {
  module: ModuleName;
  name: string;
  dialect: SimDialect;
  env?: Env;
  sim?: Partial<SimOptions>;
  /** 'complete', or the message a failed run must carry. */
  outcome: 'complete' | RegExp;
}

const EDR_ORDERS: { order: SimDialect['edrOrder']; outcome: Cell['outcome'] }[] = [
  { order: 'newest-first-unless-sorted', outcome: 'complete' },
  { order: 'ascending', outcome: 'complete' },
  {
    order: 'newest-first',
    outcome: /not in the ascending event\.datetime order .* seems to ignore the sort/,
  },
  { order: 'shuffled', outcome: /not in the ascending event\.datetime order/ },
];
const EDR_SHAPES: { name: string; dialect: SimDialect }[] = [
  { name: '{data, scrollId}', dialect: { edrBody: 'object', edrContinuation: 'body' } },
  { name: '{data} + scrollId header', dialect: { edrBody: 'object', edrContinuation: 'header' } },
  { name: '{data} + X-Scroll-Id header', dialect: { edrBody: 'object', edrContinuation: 'x-header' } },
  { name: 'array + scrollId header', dialect: { edrBody: 'array', edrContinuation: 'header' } },
  { name: 'array + X-Scroll-Id header', dialect: { edrBody: 'array', edrContinuation: 'x-header' } },
  // No continuation id where we look: every page reopens the scroll from the last instant reached.
  { name: 'array, no continuation id', dialect: { edrBody: 'array', edrContinuation: 'none' } },
];
const EDR_COUNTS: { count: SimDialect['edrCount']; outcome: Cell['outcome'] }[] = [
  { count: 'present', outcome: 'complete' },
  { count: 'absent', outcome: 'complete' },
  { count: 'not-allowed', outcome: 'complete' },
  { count: 'disagree', outcome: /edr\.count-endpoint failed \(expected 48, actual 47\)/ },
];
/** Three events per instant, so page boundaries (10) fall inside an instant. */
const EDR_SIM: Partial<SimOptions> = {
  edr: { start: '2026-01-01T12:00:00.000Z', stepMs: 60_000, perTick: 3 },
};

const edrCells: Cell[] = [
  ...EDR_ORDERS.flatMap(({ order, outcome }) =>
    EDR_SHAPES.map((s) => ({
      module: 'edr-events' as const,
      name: `order ${order}, ${s.name}`,
      dialect: { ...s.dialect, edrOrder: order },
      sim: EDR_SIM,
      outcome,
    })),
  ),
  ...EDR_COUNTS.flatMap(({ count, outcome }) =>
    (['newest-first-unless-sorted', 'ascending'] as const).map((order) => ({
      module: 'edr-events' as const,
      name: `/count ${count}, order ${order}`,
      dialect: { edrCount: count, edrOrder: order },
      sim: EDR_SIM,
      outcome,
    })),
  ),
  ...(['newest-first-unless-sorted', 'ascending'] as const).map((order) => ({
    module: 'edr-events' as const,
    name: `window on eventProcessedTime, late agents, order ${order}`,
    dialect: { edrOrder: order, edrBody: 'array' as const, edrContinuation: 'header' as const },
    env: { QUALYS_EDR_TIME_FIELD: 'event.eventProcessedTime' },
    sim: { edr: { ...EDR_SIM.edr, lateEvery: 5, lateMs: 7 * 60_000 } },
    // 'ascending' ignores sort: it serves dateTime order, which late agents break on eventProcessedTime.
    outcome:
      order === 'ascending' ? /not in the ascending event\.eventprocesstime order/ : ('complete' as const),
  })),
  // The processing-time field: sent as Qualys documents it, whichever spelling the user wrote. A tenant that knows
  // only the other spelling refuses the query (400): failed, naming the query and the setting.
  ...(['event.eventprocesstime', 'event.eventProcessedTime'] as const).flatMap((setting) =>
    (['documented', 'both', 'camel'] as const).map((spelling) => ({
      module: 'edr-events' as const,
      name: `QUALYS_EDR_TIME_FIELD=${setting}, tenant knows ${spelling}`,
      dialect: { edrProcessedTimeField: spelling },
      env: { QUALYS_EDR_TIME_FIELD: setting },
      sim: EDR_SIM,
      outcome:
        spelling === 'camel'
          ? /Qualys refused the EDR query event\.eventprocesstime:.*QUALYS_EDR_TIME_FIELD/
          : ('complete' as const),
    })),
  ),
  {
    // A tenant that drops a range on a field it does not know lists everything: events past the window end the
    // run, never an unfiltered listing read as complete.
    module: 'edr-events',
    name: 'tenant ignores the field it does not know (unfiltered listing)',
    dialect: { edrProcessedTimeField: 'camel', edrUnknownField: 'ignore', edrOrder: 'ascending' },
    env: { QUALYS_EDR_TIME_FIELD: 'event.eventprocesstime' },
    sim: { edr: { start: '2026-01-01T23:50:00.000Z', stepMs: 60_000, perTick: 3 } },
    // (Resumed, the reopened scroll starts over below the boundary: the order check stops it first.)
    outcome: /outside the requested window|not in the ascending event\.eventprocesstime order/,
  },
  // state: one value, sent with the listing and the count alike (the tenant counts what it lists).
  ...(['false', 'true', 'omit'] as const).map((state) => ({
    module: 'edr-events' as const,
    name: `QUALYS_EDR_STATE=${state}, tenant filters on state`,
    dialect: { edrState: 'filters' as const },
    env: { QUALYS_EDR_STATE: state },
    sim: EDR_SIM,
    outcome: 'complete' as const,
  })),
  // The recorded bodies' forms: both id forms (per-day ids shared by many events), and events served twice.
  ...(['rtm', 'per-day', 'agent-number'] as const).flatMap((form) =>
    (['none', 'served-twice'] as const)
      .filter((repeat) => form !== 'rtm' || repeat !== 'none')
      .flatMap((repeat) =>
        (['present', 'absent'] as const).map((count) => ({
          module: 'edr-events' as const,
          name: `ids ${form}, repeats ${repeat}, /count ${count}, top-level array`,
          dialect: {
            edrIdForm: form,
            edrRepeat: repeat,
            edrCount: count,
            edrBody: 'array' as const,
            edrContinuation: 'header' as const,
          },
          sim: EDR_SIM,
          outcome: 'complete' as const,
        })),
      ),
  ),
  // Qualys's clock 15 minutes behind or ahead of ours.
  ...[-900, 900].map((skew) => ({
    module: 'edr-events' as const,
    name: `Qualys's clock ${skew < 0 ? 'behind' : 'ahead'} by ${Math.abs(skew) / 60} min`,
    dialect: { clockSkewSeconds: skew },
    sim: EDR_SIM,
    outcome: 'complete' as const,
  })),
];

const pciCells: Cell[] = (['full', 'short', 'ragged'] as const).flatMap((fetchRange) =>
  [undefined, { count: 3 }, { count: 4, times: 3 }].map((insert) => ({
    module: 'pci-scans' as const,
    name: `fetchRange ${fetchRange}, ${insert ? `${insert.count} scans arrive after page 1 ×${insert.times ?? 1}` : 'no new scans'}`,
    dialect: { pciFetchRange: fetchRange, pciInsertAfterFirstPage: insert },
    outcome: 'complete' as const,
  })),
);

const OTHER_QUALYS = 'https://qualysapi.qg2.apps.qualys.com';
const mobileCells: Cell[] = [
  ...[undefined, OTHER_QUALYS].flatMap((host) =>
    (['next', 'last'] as const).map((idMin) => ({
      module: 'mobile-assets' as const,
      name: `URL on ${host ? 'another Qualys host' : 'the configured origin'}, id_min ${idMin}`,
      dialect: { mobileUrlHost: host, mobileIdMin: idMin },
      // A continuation is rebuilt on the configured origin from our own parameters; a URL naming another origin has
      // its id_min re-issued there (as Qualys's add-on does): nothing is ever sent to that host.
      outcome: 'complete' as const,
    })),
  ),
  {
    module: 'mobile-assets',
    name: 'id_min goes backwards',
    dialect: { mobileIdMin: 'backwards' },
    outcome: /asset IDs went backwards: \d+ came after \d+/,
  },
  {
    module: 'mobile-assets',
    name: 'URL on another path',
    dialect: { mobileUrlPath: '/api/2.0/fo/asset/host/' },
    outcome: /refusing a VMDR Mobile truncation URL for \/api\/2\.0\/fo\/asset\/host\/.*token was not sent/,
  },
  {
    module: 'mobile-assets',
    name: 'URL with another scheme',
    dialect: { mobileUrlHost: 'ftp://qualysapi.qualys.com' },
    outcome: /refusing a VMDR Mobile truncation URL over ftp:.*token was not sent/,
  },
];

const certviewCells: Cell[] = [
  ...[
    { version: 'v2', served: undefined },
    { version: 'v1', served: undefined },
    { version: 'v2.1', served: ['v2.1', 'v2.2'] },
  ].flatMap(({ version, served }) =>
    (['ignored', 'managed-by-default'] as const).flatMap((assetType) =>
      (['exact', 'filter-after-page'] as const).map((paging) => ({
        module: 'certview-certificates' as const,
        name: `${version}, assetType ${assetType}, paging ${paging}`,
        dialect: { certviewVersions: served, certviewAssetType: assetType, certviewPaging: paging },
        env: { QUALYS_CERTVIEW_API_VERSION: version },
        outcome: 'complete' as const,
      })),
    ),
  ),
  {
    module: 'certview-certificates',
    name: 'certificates arrive after page 0 (the listing moves: re-read)',
    dialect: { certviewInsertAfterFirstPage: { count: 2 } },
    outcome: 'complete',
  },
  {
    module: 'certview-certificates',
    name: 'v2 retired: only v2.1 and v2.2 served',
    dialect: { certviewVersions: ['v2.1', 'v2.2'] },
    outcome: /does not serve API version v2; set QUALYS_CERTVIEW_API_VERSION/,
  },
];

/** Host List Detection: API versions, every id_min reading, URL parameters, CDATA or text, auth. */
const vmdrCells: Cell[] = [
  ...[
    { name: 'auto → 5.0 (UNIQUE_VULN_ID)', dialect: {}, env: {} },
    { name: 'auto, only 2.0 served (no UNIQUE_VULN_ID)', dialect: { vmdrVersions: ['2.0'] }, env: {} },
    { name: '3.0 configured', dialect: {}, env: { QUALYS_VMDR_API_VERSION: '3.0' } },
  ].flatMap((v) =>
    (['next', 'last-plus-one', 'last'] as const).map((idMin) => ({
      module: 'vmdr-detections' as const,
      name: `${v.name}, id_min ${idMin}`,
      dialect: { ...v.dialect, xmlIdMin: idMin },
      env: v.env,
      outcome: 'complete' as const,
    })),
  ),
  ...(['all', 'id-min-only', 'no-truncation-limit'] as const).flatMap((urls) =>
    (['cdata', 'text'] as const).map((text) => ({
      module: 'vmdr-detections' as const,
      name: `URL carries ${urls}, ${text}`,
      dialect: { xmlUrlParams: urls, xmlText: text },
      outcome: 'complete' as const,
    })),
  ),
  {
    module: 'vmdr-detections',
    name: 'id_min goes backwards',
    dialect: { xmlIdMin: 'backwards' },
    outcome: /host IDs went backwards: \d+ came after \d+/,
  },
  {
    module: 'vmdr-detections',
    name: 'a host split across pages (same id, other detections)',
    dialect: { xmlIdMin: 'split' },
    outcome: /ID \d+ came again at the top of batch \d+ with different content/,
  },
  {
    module: 'vmdr-detections',
    name: 'version configured is not served',
    dialect: { vmdrVersions: ['5.0'] },
    env: { QUALYS_VMDR_API_VERSION: '2.0' },
    outcome: /does not serve VMDR host detection at \/api\/2\.0\/.*set QUALYS_VMDR_API_VERSION/,
  },
  {
    module: 'vmdr-detections',
    name: 'bearer (the gateway token) where the API server takes it',
    dialect: {},
    env: { QUALYS_VM_AUTH_METHOD: 'bearer' },
    outcome: 'complete',
  },
  {
    module: 'vmdr-detections',
    name: 'bearer where the API server takes Basic only',
    dialect: { vmAuth: 'basic-only' },
    env: { QUALYS_VM_AUTH_METHOD: 'bearer' },
    outcome: /rejected a freshly refreshed token \(401/,
  },
];

/** KnowledgeBase: truncating or not, in QID order or not, id_min readings, versions, CDATA or text. */
const kbCells: Cell[] = [
  ...([0, 13] as const).flatMap((truncation) =>
    (['ascending', 'unordered'] as const).flatMap((order) =>
      (truncation ? (['next', 'last-plus-one', 'last'] as const) : (['next'] as const)).map((idMin) => ({
        module: 'knowledgebase' as const,
        name: `${truncation ? `truncates at ${truncation}` : 'never truncates'}, ${order}${truncation ? `, id_min ${idMin}` : ''}`,
        dialect: { kbTruncation: truncation, kbOrder: order, xmlIdMin: idMin },
        outcome:
          truncation && order === 'unordered'
            ? /KnowledgeBase was truncated \(WARNING 1980\) while its QIDs are not in order/
            : ('complete' as const),
      })),
    ),
  ),
  {
    module: 'knowledgebase',
    name: 'auto, only 2.0 served; text instead of CDATA',
    dialect: { kbVersions: ['2.0'], xmlText: 'text' },
    outcome: 'complete',
  },
  {
    module: 'knowledgebase',
    name: 'truncates, id_min goes backwards',
    dialect: { kbTruncation: 13, xmlIdMin: 'backwards' },
    outcome: /KnowledgeBase: vulnerability QIDs are not in order .* already continued by id_min/,
  },
];

const CELLS = [...edrCells, ...pciCells, ...mobileCells, ...certviewCells, ...vmdrCells, ...kbCells];
const CASES = ['one run', 'interrupted at random points'] as const;
const matrix = CELLS.flatMap((cell) => CASES.map((c) => ({ ...cell, case: c })));

const runs = simRuns();
afterAll(async () => {
  await runs.cleanup();
  const by = (m: ModuleName) => CELLS.filter((c) => c.module === m).length;
  console.log(
    `dialect matrix: ${by('edr-events')} EDR + ${by('pci-scans')} PCI + ${by('mobile-assets')} Mobile + ` +
      `${by('certview-certificates')} CertView + ${by('vmdr-detections')} VMDR + ${by('knowledgebase')} KB dialect cells = ` +
      `${CELLS.length} × ${CASES.length} cases = ${matrix.length} runs`,
  );
});

async function runCell(cell: (typeof matrix)[number], sim: Simulator) {
  const { config, dir, store } = await runs.prepare(sim, cell.env);
  const client = testClient(sim, config);
  const { result, invocations } = await runUntilSettled(cell.module, config, client, store, {
    now: NOW,
    deadlineFor: cell.case === 'one run' ? undefined : randomPageBudgets(7, 3),
  });
  return { result, invocations, config, dir, store };
}

describe('dialect matrix', () => {
  const titled = matrix.map((c) => [`${c.module} × ${c.name} × ${c.case}`, c] as const);
  it.each(titled)('%s', async (_title, cell) => {
    const sim = await startSimulator({
      seed: 9,
      counts: onlyCounts(cell.module, N),
      ...cell.sim,
      dialect: cell.dialect,
    });
    try {
      const { result, invocations, config, dir, store } = await runCell(cell, sim);
      if (cell.case !== 'one run' && result.status === 'done') expect(invocations).toBeGreaterThan(1);
      if (cell.outcome === 'complete') {
        expect(result.status, JSON.stringify(result.error)).toBe('done');
        const run = await readRunFromDir(dir, result.manifestKey!);
        const got = run.records.map((r) => recordKey(cell.module, r));
        const expected = [...expectedFor(sim, cell.module, run.manifest.range)];
        expect(expected.length).toBeGreaterThan(0);
        expect(compareIds(expected, got)).toEqual({ lost: 0, duplicated: 0, extra: 0 });
        expect(run.manifest.completeness.every((c) => c.outcome !== 'failed')).toBe(true);
      } else {
        expect(result.status).toBe('failed');
        expect(result.error?.message).toMatch(cell.outcome);
        expect(await manifestKeys(dir)).toEqual([]);
        const state = await readStateFile(store, config, cell.module);
        expect(state?.inProgress?.lastError?.message).toMatch(cell.outcome);
      }
    } finally {
      await sim.close();
    }
  });
});
