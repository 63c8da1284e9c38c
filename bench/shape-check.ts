// The cost of checking EDR pages against their declared shape (docs/benchmarks.md, "Trust-boundary checks"), as a
// whole process for farm-bench: `node bin/run-ts.mjs bench/shape-check.ts <mode> [pages]`, with mode
//   compiled  the predicate every response goes through (shared/qualys/shapes.ts `matches`)
//   walk      the walk that names what differs (what a refused body costs, and what every body cost before)
//   none      the same pages built and visited, no check (the yardstick: A/B against it is the check's cost)
// Each page is 1,000 events shaped like the simulator's (the recorded body form), parsed from JSON as the client
// parses them, so the check runs on the objects it meets in production.
import { edrEvents } from '../shared/qualys/envelopes';
import { differences, matches } from '../shared/qualys/shapes';
import { edrEvent } from '../test/sim/data';

const [mode = 'compiled', pagesArg = '400'] = process.argv.slice(2);
if (!['compiled', 'walk', 'none'].includes(mode))
  throw new Error(`mode: compiled, walk or none, not '${mode}'`);
const pages = Number(pagesArg);
const shape = edrEvents('dateTime').body;
const timeline = { startMs: Date.parse('2026-01-01T00:00:00Z'), stepMs: 1000, perTick: 1 };
const text = JSON.stringify({
  data: Array.from({ length: 1000 }, (_, i) => edrEvent(1, timeline, i)),
  scrollId: 'c2Nyb2xs',
});
const check = matches(shape);
let ok = 0;
for (let p = 0; p < pages; p++) {
  const body: unknown = JSON.parse(text); // the reader's fast path (no repeated envelope name)
  if (mode === 'compiled') ok += check(body) ? 1 : 0;
  else if (mode === 'walk') ok += differences(shape, body).length === 0 ? 1 : 0;
  else ok += body && typeof body === 'object' ? 1 : 0;
}
if (ok !== pages)
  throw new Error(`${pages - ok} of ${pages} pages refused: the bench's pages must fit the shape`);
