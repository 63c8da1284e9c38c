// Runs the esbuild-bundled token-refresh and export-mobile-assets functions (a gateway module: its 401 goes through the refresh function) (argv: their .mjs paths) the way the
// Lambda runtime would — module load, then handler(event, context) — against the simulator, s3rver and the
// Secrets Manager / Lambda stand-ins, configured only through environment variables. Prints one JSON line.
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { startSimulator } from '../sim';
import { startLambdaServer } from './lambda-server';
import { startS3Server } from './s3-server';
import { startSecretsManagerServer } from './secrets-manager-server';

const [refreshBundle, exportBundle] = process.argv.slice(2) as [string, string];
const sim = await startSimulator({ counts: { mobile: 2500 } });
const s3 = await startS3Server();
const sm = await startSecretsManagerServer();
await sm.client.send(
  new CreateSecretCommand({
    Name: 'creds',
    SecretString: JSON.stringify({
      method: 'qualys-oidc',
      clientId: sim.defaults.clientId,
      clientSecret: sim.defaults.clientSecret,
    }),
  }),
);
await sm.client.send(new CreateSecretCommand({ Name: 'token' }));
Object.assign(process.env, {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_ENDPOINT_URL_S3: s3.endpoint,
  AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint,
  // s3rver stores aws-chunked framing inside streamed objects otherwise (local-aws.md); real S3 needs no such setting.
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
  QUALYS_GATEWAY_URL: sim.url,
  QUALYS_PCI_URL: sim.url,
  QUALYS_JWKS_URL: sim.jwksUrl,
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
