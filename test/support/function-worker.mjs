// Runs one bundled Lambda handler in a thread of its own, with the environment its function has in the template
// (a Worker given `env` has its own process.env): two functions — or two tenants — never share configuration,
// AWS clients or module state, as two Lambda functions do not. Messages: {id, event, remainingMs} → {id, ok,
// result | error}; {id, drain: marker} prints the marker on stdout and answers once it is written, so whoever
// reads this worker's stdout knows every line printed before it has arrived.
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';

const { bundle } = workerData;
const { handler } = await import(pathToFileURL(bundle).href);

parentPort.on('message', async (msg) => {
  if (msg.drain) {
    process.stdout.write(`${msg.drain}\n`, () => parentPort.postMessage({ id: msg.id, ok: true }));
    return;
  }
  try {
    const result = await handler(msg.event, { getRemainingTimeInMillis: () => msg.remainingMs });
    parentPort.postMessage({ id: msg.id, ok: true, result: JSON.parse(JSON.stringify(result ?? null)) });
  } catch (err) {
    parentPort.postMessage({
      id: msg.id,
      ok: false,
      error: { name: err?.name ?? 'Error', message: String(err?.message ?? err) },
    });
  }
});
parentPort.postMessage({ ready: true });
