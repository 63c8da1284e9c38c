// Runs the esbuild-bundled token-refresh and export-mobile-assets functions (a gateway module: its 401 goes through the refresh function) (argv: their .mjs paths) the way the
// Lambda runtime would — module load, then handler(event, context) — against the simulator, s3rver and the
// Secrets Manager / Lambda stand-ins, configured only through environment variables. Prints one JSON line.
import { startSimulator } from '../sim';
import { createSimSecrets, simUrlEnv, standInAwsEnv } from './functions';
import { startLambdaServer } from './lambda-server';
import { startS3Server } from './s3-server';
import { startSecretsManagerServer } from './secrets-manager-server';

const [refreshBundle, exportBundle] = process.argv.slice(2) as [string, string];
const sim = await startSimulator({ counts: { mobile: 2500 } });
const s3 = await startS3Server();
const sm = await startSecretsManagerServer();
await createSimSecrets(sm, sim, { credentials: 'creds', token: 'token' });
Object.assign(process.env, {
  ...standInAwsEnv({ s3: s3.endpoint, secretsManager: sm.endpoint }),
  ...simUrlEnv(sim),
  QEXPORT_BUCKET: s3.bucket,
  QEXPORT_TOKEN_SECRET_ID: 'token',
  QEXPORT_CREDENTIALS_SECRET_ID: 'creds',
  QEXPORT_TOKEN_REFRESH_FUNCTION: 'refresh',
  QEXPORT_LOG_LEVEL: 'warn',
});
const refresh = (await import(refreshBundle)) as { handler: (e: unknown) => Promise<unknown> };
const lambda = await startLambdaServer({ refresh: (e) => refresh.handler(e) });
process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint;
const refreshed = await refresh.handler({});
const exporter = (await import(exportBundle)) as {
  handler: (e: unknown, c: unknown) => Promise<{ manifestKey?: string }>;
};
sim.faults.add({ kind: 'expire-token', after: 1 }); // the bundled exporter must go through the refresh function
const result = await exporter.handler({}, { getRemainingTimeInMillis: () => 600_000 });
const keys = await s3.listKeys('qualys/');
const manifest = result.manifestKey
  ? JSON.parse((await s3.getObject(result.manifestKey)).toString())
  : undefined;
process.stdout.write(
  `RESULT ${JSON.stringify({ refreshed, result, keys, records: manifest?.totals.records, invokes: lambda.invocations.length })}\n`,
);
await Promise.all([sim.close(), s3.close(), sm.close(), lambda.close()]);
process.exit(0);
