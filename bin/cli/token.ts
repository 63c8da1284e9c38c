import { buildQualysClient, localAuth, NO_GATEWAY_AUTH } from '../../shared/app/build-client';
import { checkToken } from '../../shared/auth';
import {
  ENV,
  GATEWAY_MODULES,
  hasGatewayCredentials,
  hasPciCredentials,
  loadConfig,
  loadCredentials,
  loadPciCredentials,
  type ModuleName,
} from '../../shared/config';
import { ConfigError, isQexportError } from '../../shared/errors';
import { createLogger, redact } from '../../shared/log';
import { parseFlags } from './args';
import { cliEnv } from './env-file';

const HELP = `qexport token [--env-file FILE]

Checks the configured credentials, the gateway and PCI Merchant separately. Never prints a token or secret.

  gateway       obtains a token with ${ENV.authMethod}, checks it (expiry; signature, issuer and audience when
                ${ENV.jwksUrl} / ${ENV.issuer} / ${ENV.audience} are set) and prints method, subject and expiry
  PCI Merchant  with ${ENV.pciAuthMethod}=basic (default), one cheap call (GET /pci/scan/list, limit 1)
                verifies the account; with an IdP method, its token is obtained and checked, then the same call

Only what is configured is checked. Exit code 0 when every configured check passed, 3 when one failed.
`;

function errorText(err: unknown): string {
  return redact(isQexportError(err) || err instanceof Error ? err.message : String(err));
}

export async function tokenCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags('token', argv, {
    'env-file': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const env = cliEnv(values['env-file']);
  const gatewayWanted = hasGatewayCredentials(env);
  const pciWanted = hasPciCredentials(env);
  if (!gatewayWanted && !pciWanted) {
    throw new ConfigError(
      `no credentials are configured: set ${ENV.authMethod} and its credentials for the gateway, and/or ` +
        `${ENV.pciUsername} / ${ENV.pciPassword} for PCI Merchant (see docs/credentials.md)`,
    );
  }
  const modules: ModuleName[] = [
    ...(gatewayWanted ? GATEWAY_MODULES : []),
    ...(pciWanted ? (['pci-scans'] as const) : []),
  ];
  const config = loadConfig(env, { modules });
  // Parse both up front so a configuration error is reported (exit 2) before any request.
  const gatewayMethod = gatewayWanted ? loadCredentials(env).method : undefined;
  const pciMethod = pciWanted ? loadPciCredentials(env).method : undefined;
  const auth = localAuth({
    env,
    config,
    modules,
    fetch: globalThis.fetch,
    logger: createLogger({ level: 'warn' }),
  });
  const out: string[] = [];
  let failed = false;

  if (gatewayWanted && auth.gateway.scheme === 'bearer') {
    out.push('gateway');
    out.push(`  method:   ${gatewayMethod}`);
    try {
      const token = await auth.gateway.tokens.getToken();
      const info = await checkToken(token, config.tokenCheck);
      const minutes = Math.round((info.expiresAt.getTime() - Date.now()) / 60_000);
      out.push(
        `  subject:  ${info.subject ?? '(none)'}`,
        `  issuer:   ${info.issuer ?? '(none)'}`,
        `  expires:  ${info.expiresAt.toISOString()} (in ${minutes} min)`,
        `  verified: ${config.tokenCheck.jwksUrl ? 'signature (JWKS)' : `expiry only (set ${ENV.jwksUrl} to verify the signature)`}` +
          `${config.tokenCheck.issuer ? ', issuer' : ''}${config.tokenCheck.audience ? ', audience' : ''}`,
      );
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      failed = true;
      out.push(`  error:    ${errorText(err)}`);
    }
  } else {
    out.push('gateway', `  not configured (set ${ENV.authMethod} and its credentials to check it)`);
  }

  if (pciWanted) {
    out.push('pci');
    out.push(`  method:   ${pciMethod}`);
    try {
      if (auth.pci.scheme === 'bearer') {
        const token = await auth.pci.tokens.getToken();
        const info = await checkToken(token, { maxLifetimeSeconds: config.tokenCheck.maxLifetimeSeconds });
        const minutes = Math.round((info.expiresAt.getTime() - Date.now()) / 60_000);
        out.push(
          `  subject:  ${info.subject ?? '(none)'}`,
          `  expires:  ${info.expiresAt.toISOString()} (in ${minutes} min)`,
        );
      }
      const client = buildQualysClient(config, { gateway: NO_GATEWAY_AUTH, pci: auth.pci }, globalThis.fetch);
      const res = await client.request({
        url: '/pci/scan/list',
        base: 'pci',
        query: { offset: 1, limit: 1 },
        label: 'PCI account check',
      });
      let total = '';
      try {
        const n = (JSON.parse(res.text) as { data?: { totalCount?: unknown } }).data?.totalCount;
        if (typeof n === 'number') total = `, totalCount ${n}`;
      } catch {
        // the status is the check; the count is a courtesy
      }
      out.push(
        `  account:  accepted by ${config.endpoints.pciUrl} (GET /pci/scan/list: HTTP ${res.status}${total})`,
      );
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      failed = true;
      out.push(`  error:    ${errorText(err)}`);
    }
  } else {
    out.push('pci', `  not configured (set ${ENV.pciUsername} / ${ENV.pciPassword} to check it)`);
  }

  process.stdout.write(`${out.join('\n')}\n`);
  return failed ? 3 : 0;
}
