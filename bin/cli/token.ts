import { buildQualysClient, localAuth, NO_GATEWAY_AUTH } from '../../shared/app/build-client';
import { describeProxy, proxyAwareFetch } from '../../shared/app/proxy-fetch';
import { checkToken } from '../../shared/auth';
import {
  ENV,
  GATEWAY_MODULES,
  hasGatewayCredentials,
  hasPciCredentials,
  loadCredentials,
  loadPciCredentials,
  type ModuleName,
} from '../../shared/config';
import { ConfigError } from '../../shared/errors';
import { parseFlags } from './args';
import { failFastFetch, targetsOf } from './network';
import { cliEnv } from './dotenv';
import { oneLine } from './errors';
import { cliLogger, loadCliConfig } from './export';

const HELP = `qexport token [--dotenv FILE]

Checks the configured credentials, the gateway and PCI Merchant separately. Never prints a token or secret.

  gateway       obtains a token with ${ENV.authMethod}, checks it (expiry; signature, issuer and audience when
                ${ENV.jwksUrl} / ${ENV.issuer} / ${ENV.audience} are set) and prints method, subject and expiry
  PCI Merchant  with ${ENV.pciAuthMethod}=basic (default), one cheap call (GET /pci/scan/list, limit 1)
                verifies the account; with an IdP method, its token is obtained and checked, then the same call

Only what is configured is checked. Requests go through HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the
host; the last line says which.

Options:
  --dotenv FILE   read variables from FILE (default ./.env when present); real env wins
  -h, --help      this help

Exit codes: 0 every configured check passed; 2 configuration problem (one line each); 3 a check failed (its
error is one line of the report).
`;

export async function tokenCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags('token', argv, {
    dotenv: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length) {
    throw new ConfigError(`token takes no arguments (got '${positionals.join(' ')}')`);
  }
  const env = cliEnv(values.dotenv);
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
  // Every configuration problem up front, each on its own line (exit 2), before any request.
  const config = loadCliConfig(env, modules);
  const gatewayMethod = gatewayWanted ? loadCredentials(env).method : undefined;
  const pciMethod = pciWanted ? loadPciCredentials(env).method : undefined;
  const fetch = failFastFetch(proxyAwareFetch(env), targetsOf(config, env));
  const auth = localAuth({ env, config, modules, fetch, logger: cliLogger(env) });
  const out: string[] = [];
  let failed = false;

  if (gatewayWanted && auth.gateway.scheme === 'bearer') {
    out.push('gateway');
    out.push(`  method:   ${gatewayMethod}`);
    try {
      const token = await auth.gateway.tokens.getToken();
      const info = await checkToken(token, config.tokenCheck, new Date(), fetch);
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
      out.push(`  error:    ${oneLine(err)}`);
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
        const info = await checkToken(
          token,
          { maxLifetimeSeconds: config.tokenCheck.maxLifetimeSeconds },
          new Date(),
          fetch,
        );
        const minutes = Math.round((info.expiresAt.getTime() - Date.now()) / 60_000);
        out.push(
          `  subject:  ${info.subject ?? '(none)'}`,
          `  expires:  ${info.expiresAt.toISOString()} (in ${minutes} min)`,
        );
      }
      const client = buildQualysClient(config, { gateway: NO_GATEWAY_AUTH, pci: auth.pci }, fetch);
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
      out.push(`  error:    ${oneLine(err)}`);
    }
  } else {
    out.push('pci', `  not configured (set ${ENV.pciUsername} / ${ENV.pciPassword} to check it)`);
  }

  out.push(`network:    ${describeProxy(env)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return failed ? 3 : 0;
}
