import { loadProxy, type Env, type ProxySettings } from '../config';
import { ConfigError } from '../errors';
import { addSecret } from '../log';
import type * as UndiciModule from 'undici';

type Undici = typeof UndiciModule;

/** Not a literal in the import() below, so bundlers leave undici out; see `load`. */
const UNDICI: string = 'undici';

/**
 * The `fetch` the entry points (Lambda functions, the CLI) inject into the core: Node's own fetch when no
 * proxy is configured, otherwise undici's fetch through an `EnvHttpProxyAgent` built from HTTPS_PROXY /
 * HTTP_PROXY / NO_PROXY of `env` (only those of `env`: the process environment is not consulted again).
 *
 * Built once per process. undici is imported on the first request that needs it, so an unproxied Lambda never
 * loads it. A bad proxy variable is reported by the configuration (loadConfig) with every other problem;
 * should this fetch be called anyway, each call rejects with that same error, never falling back to a
 * direct connection the operator did not allow.
 */
export function proxyAwareFetch(env: Env, base: typeof fetch = globalThis.fetch): typeof fetch {
  let settings: ProxySettings | undefined;
  try {
    settings = loadProxy(env);
  } catch (err) {
    return () => Promise.reject(err as Error);
  }
  if (!settings) return base;
  for (const url of [settings.httpProxy, settings.httpsProxy]) {
    if (url) addSecret(decodeURIComponent(new URL(url).password));
  }
  const proxy = settings;
  let ready: Promise<typeof fetch> | undefined;
  const load = async (): Promise<typeof fetch> => {
    let undici: Undici;
    try {
      // A specifier bundlers leave alone: the Lambda bundles do not carry undici (about 540 KB of the 1 MB
      // bundle budget) for the few deployments behind a proxy; those install it beside the bundle.
      undici = (await import(UNDICI)) as Undici;
    } catch (err) {
      throw new ConfigError(
        `a proxy is configured (HTTPS_PROXY / HTTP_PROXY) but the undici package cannot be loaded ` +
          `(${(err as Error).message.split('\n')[0]}); install it beside this code (Lambda: bundling nodeModules ['undici'])`,
      );
    }
    const dispatcher = new undici.EnvHttpProxyAgent({
      // '' (not undefined) so undici does not read process.env behind our back.
      httpProxy: proxy.httpProxy ?? '',
      httpsProxy: proxy.httpsProxy ?? '',
      noProxy: proxy.noProxy ?? '',
    });
    // undici's own fetch, so the dispatcher and the fetch come from the same undici version.
    return ((input: Parameters<typeof fetch>[0], init?: RequestInit) =>
      undici.fetch(
        input as Parameters<typeof undici.fetch>[0],
        { ...init, dispatcher } as Parameters<typeof undici.fetch>[1],
      )) as unknown as typeof fetch;
  };
  return async (input, init) => {
    const f = await (ready ??= load());
    try {
      return await f(input, init);
    } catch (err) {
      throw explainProxyFailure(err, proxy);
    }
  };
}

/** The proxy's origin without credentials. */
function bare(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

/**
 * "fetch failed" says nothing about the proxy. When the proxy itself is the cause (it cannot be reached, or it
 * refused the tunnel, 407 for credentials), the error says so, naming the proxy without its credentials. The
 * error stays a TypeError with the same cause, so callers classify it as the network error it is.
 */
export function explainProxyFailure(err: unknown, proxy: ProxySettings): unknown {
  if (!(err instanceof TypeError)) return err;
  const proxies = [proxy.httpsProxy, proxy.httpProxy].filter((u): u is string => Boolean(u));
  let detail: string | undefined;
  for (let c: unknown = err.cause, depth = 0; c && typeof c === 'object' && depth < 6; depth++) {
    const e = c as { message?: string; code?: unknown; port?: unknown; address?: unknown };
    const refused = /Proxy response \((\d+)\) !== 200/.exec(e.message ?? '');
    if (refused) {
      const status = Number(refused[1]);
      const hint =
        status === 407
          ? ': check the user and password in HTTPS_PROXY / HTTP_PROXY'
          : status === 403
            ? ': the proxy does not allow this destination'
            : '';
      detail = `the proxy (${proxies.map(bare).join(', ')}) refused the connection with HTTP ${status}${hint}`;
      break;
    }
    if (typeof e.code === 'string' && typeof e.port === 'number') {
      const hit = proxies.find((u) => {
        const x = new URL(u);
        return Number(x.port || (x.protocol === 'https:' ? 443 : 80)) === e.port;
      });
      if (hit) {
        detail = `cannot connect to the proxy ${bare(hit)} (${e.code}): check HTTPS_PROXY / HTTP_PROXY`;
        break;
      }
    }
    c = (c as { cause?: unknown }).cause;
  }
  if (!detail) return err;
  return new TypeError(`${err.message}: ${detail}`, { cause: err.cause });
}

/** A one-line description of the proxy in use, without credentials (for `--help`-style summaries and logs). */
export function describeProxy(env: Env): string {
  let settings: ProxySettings | undefined;
  try {
    settings = loadProxy(env);
  } catch {
    return 'invalid proxy settings';
  }
  if (!settings) return 'direct (no HTTPS_PROXY/HTTP_PROXY)';
  const parts: string[] = [];
  if (settings.httpsProxy) parts.push(`https via ${bare(settings.httpsProxy)}`);
  if (settings.httpProxy)
    parts.push(`http${settings.httpsProxy ? '' : '(s)'} via ${bare(settings.httpProxy)}`);
  if (settings.noProxy) parts.push(`direct for ${settings.noProxy}`);
  return parts.join(', ');
}
