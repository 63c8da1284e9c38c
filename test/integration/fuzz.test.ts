import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUZZ_ENDPOINTS } from '../fuzz/endpoints';
import { casesFor, expectationOf, FuzzRunner, type FuzzCase, type FuzzOutcome } from '../fuzz/runner';
import { startRecorder } from '../support/recorder';

/**
 * The trust-boundary fuzz suite: seeded mutations of valid responses, every endpoint (test/fuzz/endpoints.ts) ×
 * every mutation that applies to it (test/fuzz/mutations.ts), each run as a whole export against the simulator.
 * Each case must end in exactly the simulator's records or in a run that is not done (and published nothing):
 * never `done` with a difference. In `npm test`: one seed (every mutation of every endpoint once, or twice where
 * one reply and every reply differ). On demand: `npm run fuzz` (QEXPORT_FUZZ_SEEDS=N seeds, default 8), which
 * varies the reply hit, the byte a body is cut at, the record chosen, the lie told.
 */
const SEEDS = Number(process.env.QEXPORT_FUZZ_SEEDS ?? 1);
const cases = Array.from({ length: SEEDS }, (_, k) => casesFor(k + 1)).flat();

let elsewhere: Awaited<ReturnType<typeof startRecorder>>;
let runner: FuzzRunner;
const outcomes: { c: FuzzCase; o: FuzzOutcome }[] = [];
beforeAll(async () => {
  elsewhere = await startRecorder();
  runner = new FuzzRunner(elsewhere);
});
afterAll(async () => {
  await runner.close();
  await elsewhere.close();
  const applied = outcomes.filter(({ o }) => o.applied > 0 || o.status === 'done');
  const by = (f: (x: (typeof outcomes)[number]) => string) => {
    const m = new Map<string, number>();
    for (const x of applied) m.set(f(x), (m.get(f(x)) ?? 0) + 1);
    return [...m].map(([k, n]) => `${k} ${n}`).join(', ');
  };
  const kinds = new Set(cases.map((c) => c.mutation.kind.replace(/:.*/, '')));
  console.log(
    `fuzz: ${outcomes.length} cases (${SEEDS} seed${SEEDS === 1 ? '' : 's'}, ${FUZZ_ENDPOINTS.length} endpoints, ` +
      `${kinds.size} mutation kinds); outcomes: ${by(({ o }) => o.status)}; ` +
      `beyond what an endpoint's proof can see (documented limits, not asserted): ` +
      `${applied.filter(({ o }) => o.blind).length}; not applicable (nothing to mutate in that run): ` +
      `${outcomes.length - applied.length}`,
  );
});

describe.each(FUZZ_ENDPOINTS.map((e) => [e.name, e] as const))('%s', (name) => {
  it.each(
    cases
      .filter((c) => c.endpoint.name === name)
      .map((c) => [`${c.mutation.kind} ${c.scope} #${c.seed}`, c] as const),
  )('%s', async (_label, c) => {
    const o = await runner.run(c);
    outcomes.push({ c, o });
    expect(o.problem, `${expectationOf(c)}: ${o.status} ${o.error ?? ''}`).toBeUndefined();
  });
});

// A case with nothing to mutate passes: an endpoint none of whose cases reached it would pass unseen.
describe('the suite reaches what it declares', () => {
  it('every endpoint that ran had mutations applied', () => {
    for (const e of FUZZ_ENDPOINTS) {
      const ran = outcomes.filter(({ c }) => c.endpoint === e);
      if (ran.length)
        expect(
          ran.some(({ o }) => o.applied > 0),
          e.name,
        ).toBe(true);
    }
  });
});
