import { checkToken, createLocalTokenProvider } from '../../shared/auth';
import { loadConfig, loadCredentials } from '../../shared/config';
import { createLogger } from '../../shared/log';
import { parseFlags } from './args';
import { cliEnv } from './env-file';

const HELP = `qexport token [--env-file FILE]

Obtains a Qualys token with the configured method, checks it (expiry; signature, issuer and audience when
QUALYS_JWKS_URL / QUALYS_ISSUER / QUALYS_AUDIENCE are set) and prints its method, subject and expiry.
The token itself is never printed.
`;

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
  const config = loadConfig(env);
  const credentials = loadCredentials(env);
  const tokens = createLocalTokenProvider({
    credentials,
    endpoints: config.endpoints,
    tokenCheck: config.tokenCheck,
    fetch: globalThis.fetch,
    logger: createLogger({ level: 'warn' }),
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
      `${config.tokenCheck.issuer ? ', issuer' : ''}${config.tokenCheck.audience ? ', audience' : ''}\n`,
  );
  return 0;
}
