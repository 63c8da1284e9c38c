import {
  createRemoteJWKSet,
  customFetch,
  decodeJwt,
  jwtVerify,
  errors as joseErrors,
  type JWTPayload,
} from 'jose';
import type { TokenCheckConfig } from '../config';
import { AuthError } from '../errors';
import { AUTH_BODY_LIMITS, policyFetch } from '../net/policy';
import { JWKS } from '../qualys/envelopes';
import { readJson } from '../qualys/shapes';

export interface TokenInfo {
  expiresAt: Date;
  issuedAt: Date;
  subject?: string;
  issuer?: string;
}

const jwksCache = new WeakMap<typeof fetch, Map<string, ReturnType<typeof createRemoteJWKSet>>>();

/**
 * jose's remote JWKS: cached per fetch and URL, refetched on an unknown kid, so key rotation is picked up. The
 * JWKS is fetched with the injected fetch, so it goes through the same proxy as every other call, and under the
 * outbound policy: only QUALYS_JWKS_URL's origin, no redirect followed, a small body of JSON in UTF-8 with the
 * declared JWKS shape.
 */
function remoteJwks(url: string, fetchImpl: typeof fetch) {
  let byUrl = jwksCache.get(fetchImpl);
  if (!byUrl) jwksCache.set(fetchImpl, (byUrl = new Map()));
  let set = byUrl.get(url);
  if (!set) {
    const guarded = policyFetch(fetchImpl, {
      allow: [new URL(url).origin],
      limits: AUTH_BODY_LIMITS,
      what: `JWKS request to ${new URL(url).origin}${new URL(url).pathname}`,
      kind: 'json',
      check: (text) => void readJson(text, JWKS),
    });
    set = createRemoteJWKSet(new URL(url), {
      timeoutDuration: 10_000,
      cooldownDuration: 30_000,
      [customFetch]: guarded,
    });
    byUrl.set(url, set);
  }
  return set;
}

function explain(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'it has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'it is not valid yet (nbf in the future)';
    if (err.claim === 'iss') return 'its issuer does not match QUALYS_ISSUER';
    if (err.claim === 'aud') return 'its audience does not match QUALYS_AUDIENCE';
    return `claim '${err.claim}' is invalid (${err.reason})`;
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return 'its signature does not verify against the JWKS';
  if (err instanceof joseErrors.JWKSNoMatchingKey)
    return 'no key in the JWKS matches its kid (bad signature or foreign issuer)';
  if (err instanceof joseErrors.JWKSTimeout) return 'the JWKS could not be fetched in time';
  if (err instanceof joseErrors.JOSEError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Checks a token before it is stored or used: a JWT whose `exp` is in the future and not absurdly far away;
 * with a JWKS URL, issuer or audience configured, also its signature and those claims.
 */
export async function checkToken(
  token: string,
  check: TokenCheckConfig,
  now: Date = new Date(),
  /** The fetch that reaches the JWKS: the process's proxy-aware fetch (required, so no caller goes around it). */
  fetchImpl: typeof fetch,
): Promise<TokenInfo> {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    throw new AuthError('the token is not a JWT');
  }
  const nowSec = Math.floor(now.getTime() / 1000);
  try {
    if (check.jwksUrl) {
      ({ payload: claims } = await jwtVerify(token, remoteJwks(check.jwksUrl, fetchImpl), {
        issuer: check.issuer,
        audience: check.audience,
        currentDate: now,
        clockTolerance: 30,
      }));
    } else {
      if (check.issuer && claims.iss !== check.issuer)
        throw new AuthError('its issuer does not match QUALYS_ISSUER');
      const aud = Array.isArray(claims.aud) ? claims.aud : claims.aud ? [claims.aud] : [];
      if (check.audience && !aud.includes(check.audience))
        throw new AuthError('its audience does not match QUALYS_AUDIENCE');
      if (typeof claims.nbf === 'number' && claims.nbf > nowSec + 30)
        throw new AuthError('it is not valid yet (nbf in the future)');
    }
  } catch (err) {
    throw new AuthError(`token refused: ${err instanceof AuthError ? err.message : explain(err)}`);
  }
  if (typeof claims.exp !== 'number') throw new AuthError('token refused: it has no exp claim');
  if (claims.exp <= nowSec) throw new AuthError('token refused: it has expired');
  const lifetime = claims.exp - (typeof claims.iat === 'number' ? claims.iat : nowSec);
  if (claims.exp - nowSec > check.maxLifetimeSeconds || lifetime > check.maxLifetimeSeconds) {
    throw new AuthError(
      `token refused: its lifetime (${Math.round(lifetime / 3600)} h) exceeds the ${Math.round(check.maxLifetimeSeconds / 3600)} h ` +
        'allowed (QUALYS_MAX_TOKEN_LIFETIME_SECONDS)',
    );
  }
  return {
    expiresAt: new Date(claims.exp * 1000),
    issuedAt: new Date((typeof claims.iat === 'number' ? claims.iat : nowSec) * 1000),
    subject: claims.sub,
    issuer: claims.iss,
  };
}
