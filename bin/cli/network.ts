import { ENV, type AppConfig, type Env } from '../../shared/config';
import { QexportError } from '../../shared/errors';
import { causeCode, describeNetworkCode } from './errors';

/** Failures no retry fixes at start: nothing listens, no such host, a certificate refused. */
function hopeless(code: string | undefined): 'refused' | 'dns' | 'tls' | undefined {
  if (!code) return undefined;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND') return 'dns';
  if (
    code.startsWith('CERT_') ||
    code.startsWith('UNABLE_TO_') ||
    code.startsWith('ERR_SSL_') ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
    code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
    code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
    code === 'EPROTO'
  )
    return 'tls';
  return undefined;
}

/** A configured origin: what it is, and the variable that sets it. */
export interface Target {
  origin: string;
  what: string;
  variable: string;
}

/** The origins a CLI run may call, from its configuration and environment. */
export function targetsOf(config: AppConfig, env: Env): Target[] {
  const targets: Target[] = [];
  const add = (url: string | undefined, what: string, variable: string) => {
    if (!url) return;
    try {
      targets.push({ origin: new URL(url).origin, what, variable });
    } catch {
      // not a URL: the configuration reports it
    }
  };
  add(
    config.endpoints.gatewayUrl,
    'the Qualys gateway',
    env[ENV.gatewayUrl] ? ENV.gatewayUrl : `${ENV.platform} or ${ENV.gatewayUrl}`,
  );
  add(config.endpoints.pciUrl, 'PCI Merchant', ENV.pciUrl);
  add(env[ENV.tokenUrl], 'the IdP token endpoint', ENV.tokenUrl);
  add(env[ENV.pciTokenUrl], 'the PCI IdP token endpoint', ENV.pciTokenUrl);
  add(config.tokenCheck.jwksUrl, 'the JWKS endpoint', ENV.jwksUrl);
  return targets;
}

/**
 * `fetch` for a CLI run that fails at once, naming the cause and the URL, when the first request to an origin
 * meets a failure no retry fixes: connection refused, host not found, a TLS certificate refused. Retrying those
 * took 11 s (more with longer backoff) to end in "fetch failed". Once an origin has answered, its failures go to
 * the usual retries (a refused connection mid-run is transient). The error is a QexportError, which the HTTP
 * client and the token requests pass on without retrying. Lambda functions do not use this: there a retry
 * costs little and a scheduled run has no one waiting.
 */
export function failFastFetch(base: typeof fetch, targets: readonly Target[]): typeof fetch {
  const answered = new Set<string>();
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    try {
      const res = await base(input, init);
      answered.add(url.origin);
      return res;
    } catch (err) {
      if ((err as { cause?: { message?: unknown } }).cause?.message === 'bad port') {
        // fetch refuses ports of other protocols (6000, 6665-6669, …) without trying: no retry can help.
        throw new QexportError(
          'network',
          `cannot reach ${url.origin}${url.pathname}: fetch refuses port ${url.port} (reserved for another ` +
            'protocol by the Fetch standard); use another port',
          { cause: err },
        );
      }
      const code = causeCode(err);
      const kind = hopeless(code);
      if (answered.has(url.origin) || !kind) throw err;
      const target = targets.find((t) => t.origin === url.origin);
      const where = `${target ? `${target.what} at ` : ''}${url.origin}${url.pathname}`;
      const message = err instanceof Error ? err.message : String(err);
      // The proxy-aware fetch names the proxy when the proxy is what failed: keep its words.
      const proxy = /(cannot connect to the proxy|the proxy \().*$/.exec(message)?.[0];
      const cause = proxy ?? `${describeNetworkCode(code!) ?? 'failed'} (${code})`;
      const hint = proxy
        ? ''
        : kind === 'tls'
          ? code === 'ERR_TLS_CERT_ALTNAME_INVALID'
            ? `; check the host name${target ? ` in ${target.variable}` : ''}`
            : code!.startsWith('ERR_SSL_') || code === 'EPROTO'
              ? `; is it an http:// port${target ? `? (${target.variable})` : '?'}`
              : '; behind a TLS-inspecting proxy, set NODE_EXTRA_CA_CERTS to its CA certificate'
          : target
            ? `; check ${target.variable}${kind === 'refused' ? ' and that the service is up' : ''}`
            : '';
      throw new QexportError('network', `cannot reach ${where}: ${cause}${hint}`, { cause: err });
    }
  };
}
