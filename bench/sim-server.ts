// A simulator in its own process for the benchmarks (so its CPU is not counted as the exporter's).
// argv: JSON options for startSimulator. Prints {"url": ...} on stdout, then runs until killed. Each line
// 'stats' on stdin is answered with one JSON line of the simulator's request counters.
import { createInterface } from 'node:readline';
import { startSimulator } from '../test/sim';

const opts = JSON.parse(process.argv[2] ?? '{}');
const sim = await startSimulator({ port: 0, ...opts });
const { clientId, clientSecret, pciUsername, pciPassword, username, password } = sim.defaults;
process.stdout.write(
  `${JSON.stringify({ url: sim.url, clientId, clientSecret, pciUsername, pciPassword, username, password })}\n`,
);
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'stats') process.stdout.write(`${JSON.stringify(sim.stats())}\n`);
});
process.on('SIGTERM', () => void sim.close().then(() => process.exit(0)));
