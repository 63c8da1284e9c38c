import { parseArgs } from 'node:util';
import { DEFAULT_DIALECT, parseDialectArg } from './dialect';
import { parseFaultArg, startSimulator, type FaultSpec } from './index';

const HELP = `qexport sim [options]

Runs the Qualys API simulator on 127.0.0.1 until Ctrl-C. One origin serves the gateway (/auth, /auth/oidc,
/certview, /ioc, /sem), PCI (/pci), an IdP token endpoint (/oauth2/token) and a JWKS.

Options:
  --port N                 port (default 8443; 0 = any free port)
  --seed N                 data seed (default 1)
  --scale N                multiply the default counts (pci 25, certview 450, edr 1000, mobile 30)
  --counts k=v,...         exact counts, e.g. pci=100,certview=1000,edr=50000,mobile=200
  --edr-start ISO          time of the first EDR event (default: 24 h ago), --edr-step-ms N (default 1000)
  --latency MS             added to every data page
  --rate CALLS/WINDOWSEC   rate limit, e.g. 300/3600
  --concurrency N          concurrency limit
  --fault SPEC             kind[:/path][:key=val,...], repeatable; kinds: status, reset, stall, malformed,
                           truncated, expire-token, scroll-expire, offsite-url, rate-limit, concurrency-limit,
                           pci-insert, simple-return, redirect; keys: after, times, status, waitSec, ms, url, count,
                           code (status/reset/stall/redirect hit a token endpoint or the JWKS when the path names
                           it, e.g. status:/auth/oidc, redirect:/pci/:url=https://elsewhere.example,status=302)
  --dialect key=val,...    how the API behaves where the documentation is silent (see docs/simulator.md).
                           Auth and limits: ${Object.keys(DEFAULT_DIALECT).join(', ')},
                           e.g. pciAuth=documented,rateLimitBody=documented.
                           Data endpoints: edrOrder=ascending (newest-first-unless-sorted, newest-first,
                           shuffled), edrBody=array, edrContinuation=header (body, x-header, none),
                           edrCount=absent (present, not-allowed, disagree), pciFetchRange=short (full,
                           ragged), pciInsertAfterFirstPage=3x2, mobileUrlHost=https://other.example,
                           mobileUrlPath=/x, mobileIdMin=last (next, backwards), certviewVersions=v2.1+v2.2,
                           certviewAssetType=managed-by-default, certviewPaging=filter-after-page,
                           certviewInsertAfterFirstPage=2, bigNumbers=true
  -h, --help               this help
`;

export async function runSimulatorCli(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        port: { type: 'string' },
        seed: { type: 'string' },
        scale: { type: 'string' },
        counts: { type: 'string' },
        'edr-start': { type: 'string' },
        'edr-step-ms': { type: 'string' },
        latency: { type: 'string' },
        rate: { type: 'string' },
        concurrency: { type: 'string' },
        fault: { type: 'string', multiple: true },
        dialect: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`qexport sim: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const num = (name: string, v: string | undefined, dflt: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got '${v}'`);
    return n;
  };
  let sim;
  try {
    const scale = num('scale', values.scale, 1);
    const counts: Record<string, number> = {
      pci: Math.round(25 * scale),
      certview: Math.round(450 * scale),
      edr: Math.round(1000 * scale),
      mobile: Math.round(30 * scale),
    };
    for (const kv of values.counts ? values.counts.split(',') : []) {
      const [k, v] = kv.split('=');
      if (!k || !(k in counts))
        throw new Error(`--counts: unknown module '${k}' (pci, certview, edr, mobile)`);
      counts[k] = num('counts', v, 0);
    }
    let rate: { calls: number; windowSec: number } | undefined;
    if (values.rate) {
      const m = /^(\d+)\/(\d+)$/.exec(values.rate);
      if (!m) throw new Error(`--rate must look like CALLS/WINDOWSEC (e.g. 300/3600), got '${values.rate}'`);
      rate = { calls: Number(m[1]), windowSec: Number(m[2]) };
    }
    const faults: FaultSpec[] = (values.fault ?? []).map(parseFaultArg);
    const dialect = parseDialectArg(values.dialect);
    const edrStart = values['edr-start'] ?? new Date(Date.now() - 24 * 3600_000).toISOString();
    if (Number.isNaN(Date.parse(edrStart)))
      throw new Error(`--edr-start must be an ISO date, got '${edrStart}'`);
    sim = await startSimulator({
      port: num('port', values.port, 8443),
      seed: num('seed', values.seed, 1),
      counts,
      edr: { start: edrStart, stepMs: num('edr-step-ms', values['edr-step-ms'], 1000) },
      latencyMs: num('latency', values.latency, 0),
      dialect,
      limits: {
        rate,
        concurrency: values.concurrency ? num('concurrency', values.concurrency, 2) : undefined,
      },
    });
    for (const f of faults) sim.faults.add(f);
  } catch (err) {
    process.stderr.write(`qexport sim: ${(err as Error).message}\n`);
    return 2;
  }
  const d = sim.defaults;
  process.stdout.write(
    `Qualys API simulator listening on ${sim.url}\n` +
      `  demo credentials (not secrets): clientId=${d.clientId} clientSecret=${d.clientSecret} ` +
      `username=${d.username} password=${d.password}\n` +
      `  subscription client (/auth/oauth): ${d.subscriptionClientId} / ${d.subscriptionClientSecret}; ` +
      `PCI Merchant account (Basic): ${d.pciUsername} / ${d.pciPassword}\n` +
      `  IdP token URL: ${sim.tokenUrl}   JWKS: ${sim.jwksUrl}\n\n` +
      `Try:\n` +
      `  TOKEN=$(curl -s -X POST ${sim.url}/auth/oidc -H 'clientId: ${d.clientId}' -H 'clientSecret: ${d.clientSecret}')\n` +
      `  curl -s -H "Authorization: Bearer $TOKEN" '${sim.url}/pci/scan/list?offset=1&limit=2'\n` +
      `  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"pageNumber":0,"pageSize":1}' ${sim.url}/certview/v2/certificates\n` +
      `  curl -s -H "Authorization: Bearer $TOKEN" '${sim.url}/ioc/events/scroll?filter=type:MUTEX&pageSize=2'\n` +
      `  curl -s -H "Authorization: Bearer $TOKEN" '${sim.url}/sem/v1/assetList?action=list&truncation_limit=1'\n`,
  );
  await new Promise<void>((resolve) => {
    // SIGHUP too: a closed terminal, or the npm process that started it gone (bin/cli/launcher.ts).
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, resolve);
  });
  await sim.close();
  return 0;
}
