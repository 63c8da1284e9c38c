// The Lambda functions as deployed, run here: bundled with the options the stack uses, configured only by
// environment variables pointing at the simulator and the local AWS stand-ins.
import { join } from 'node:path';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { build, type BuildOptions } from 'esbuild';
import type { Simulator } from '../sim';
import type { SecretsManagerServer } from './secrets-manager-server';

const ROOT = join(import.meta.dirname, '..', '..');

/** What infra/tenant.ts gives esbuild for every function: ESM, the AWS SDK bundled, a createRequire banner. */
export const FUNCTION_BUILD = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  mainFields: ['module', 'main'],
  banner: {
    js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);",
  },
} as const satisfies BuildOptions;

/** Bundles `functions/<entry>.ts` for each entry into `outdir` as `<entry>.mjs`, minified as deployed. */
export async function bundleFunctions(entries: string[], outdir: string): Promise<void> {
  await build({
    ...FUNCTION_BUILD,
    entryPoints: entries.map((e) => join(ROOT, 'functions', `${e}.ts`)),
    outdir,
    outExtension: { '.js': '.mjs' },
    minify: true,
    logLevel: 'silent',
  });
}

/** s3rver stores aws-chunked framing inside streamed objects otherwise (local-aws.md); real S3 needs neither. */
export const S3RVER_CHECKSUM_ENV = {
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
} as const;

/** The AWS SDK settings that send a function's S3, Secrets Manager and Lambda calls to the local stand-ins. */
export function standInAwsEnv(endpoints: {
  s3: string;
  secretsManager: string;
  lambda?: string;
}): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: endpoints.s3,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
    ...(endpoints.lambda ? { AWS_ENDPOINT_URL_LAMBDA: endpoints.lambda } : {}),
    ...S3RVER_CHECKSUM_ENV,
  };
}

/** The simulator's gateway, PCI, API server and JWKS URLs, as a function's environment names them. */
export function simUrlEnv(sim: Simulator): Record<string, string> {
  return {
    QUALYS_GATEWAY_URL: sim.url,
    QUALYS_PCI_URL: sim.url,
    QUALYS_API_URL: sim.url,
    QUALYS_JWKS_URL: sim.jwksUrl,
  };
}

/**
 * The secrets the functions read, holding the simulator's accounts: gateway credentials (qualys-oidc), an empty
 * token secret for token-refresh to fill and, when named, PCI Merchant's own Basic account and the API server's
 * Qualys user.
 */
export async function createSimSecrets(
  sm: SecretsManagerServer,
  sim: Simulator,
  names: { credentials: string; token: string; pciCredentials?: string; vmCredentials?: string },
): Promise<void> {
  await sm.client.send(
    new CreateSecretCommand({
      Name: names.credentials,
      SecretString: JSON.stringify({
        method: 'qualys-oidc',
        clientId: sim.defaults.clientId,
        clientSecret: sim.defaults.clientSecret,
      }),
    }),
  );
  await sm.client.send(new CreateSecretCommand({ Name: names.token }));
  if (names.pciCredentials)
    await sm.client.send(
      new CreateSecretCommand({
        Name: names.pciCredentials,
        SecretString: JSON.stringify({
          method: 'basic',
          username: sim.defaults.pciUsername,
          password: sim.defaults.pciPassword,
        }),
      }),
    );
  // The Qualys user of the API server modules (QUALYS_VM_AUTH_METHOD=basic).
  if (names.vmCredentials)
    await sm.client.send(
      new CreateSecretCommand({
        Name: names.vmCredentials,
        SecretString: JSON.stringify({ username: sim.defaults.username, password: sim.defaults.password }),
      }),
    );
}
