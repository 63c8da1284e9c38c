import { checkToken, createLocalTokenProvider } from '../../shared/auth';
import { describeProxy, proxyAwareFetch } from '../../shared/app/proxy-fetch';
import { ConfigError } from '../../shared/errors';
import { parseFlags } from './args';
import { cliEnv } from './dotenv';
import { cliLogger, loadCliConfig } from './export';

const HELP = `qexport token [--dotenv FILE]

Obtains a Qualys token with the configured method, checks it (expiry; signature, issuer and audience when
QUALYS_JWKS_URL / QUALYS_ISSUER / QUALYS_AUDIENCE are set) and prints its method, subject and expiry.
The token itself is never printed. Requests go through HTTPS_PROXY / HTTP_PROXY unless NO_PROXY lists the host.

Options:
  --dotenv FILE   read variables from FILE (default ./.env when present); real env wins
  -h, --help      this help

Exit codes: 0 token obtained and checked; 2 configuration problem; 3 the token request or check failed.
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
  const { config, credentials } = loadCliConfig(env);
  const tokens = createLocalTokenProvider({
    credentials,
    endpoints: config.endpoints,
    tokenCheck: config.tokenCheck,
    fetch: proxyAwareFetch(env),
    logger: cliLogger(env),
  });
  const token = await tokens.getToken();
  const info = await checkToken(token, config.tokenCheck);
  const minutes = Math.round((info.expiresAt.getTime() - Date.now()) / 60_000);
  process.stdout.write(
    `method:   ${credentials.method}\n` +
      `subject:  ${info.subject ?? '(none)'}\n` +
      `issuer:   ${info.issuer ?? '(none)'}\n` +
      `expires:  ${info.expiresAt.toISOString()} (in ${minutes} min)\n` +
      `verified: ${config.tokenCheck.jwksUrl ? 'signature (JWKS)' : 'expiry only (set QUALYS_JWKS_URL to verify the signature)'}` +
      `${config.tokenCheck.issuer ? ', issuer' : ''}${config.tokenCheck.audience ? ', audience' : ''}\n` +
      `network:  ${describeProxy(env)}\n`,
  );
  return 0;
}
