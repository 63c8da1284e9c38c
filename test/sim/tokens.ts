import { exportJWK, generateKeyPair, jwtVerify, SignJWT, type JWK } from 'jose';

type KeyLike = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { randomUUID } from 'node:crypto';

export interface IssueOptions {
  ttlSec?: number;
  /** Shift nbf (and iat) relative to now; positive = not yet valid. */
  nbfOffsetSec?: number;
  issuer?: string;
  audience?: string;
  /** Sign with a key that is NOT in the simulator's JWKS (a forged token). */
  foreignKey?: boolean;
  sub?: string;
  /** Who issued it: the Qualys gateway (/auth, /auth/oidc, /auth/oauth) or the IdP (/oauth2/token). */
  source?: TokenSource;
}

export type TokenSource = 'gateway' | 'idp';

export type TokenCheck =
  | { ok: true; sub: string; source: TokenSource }
  | { ok: false; message: 'JWT expired' | 'Not authenticated' };

/** RS256 keys, token issuing and verification for the simulator; tokens can be revoked by issue order. */
export class TokenAuthority {
  private seq = 0;
  private revokedUpTo = 0;
  private readonly issued = new Map<string, number>();
  private readonly cache = new Map<string, { exp: number; jti: string; sub: string; source: TokenSource }>();

  private constructor(
    private readonly key: KeyLike,
    private readonly publicKey: KeyLike,
    private readonly foreign: KeyLike,
    readonly jwk: JWK,
    readonly issuer: string,
    readonly audience: string,
  ) {}

  static async create(issuer: string, audience: string): Promise<TokenAuthority> {
    const main = await generateKeyPair('RS256', { extractable: true });
    const foreign = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(main.publicKey)), kid: 'qexport-sim-1', alg: 'RS256', use: 'sig' };
    return new TokenAuthority(main.privateKey, main.publicKey, foreign.privateKey, jwk, issuer, audience);
  }

  async issue(opts: IssueOptions = {}): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const offset = opts.nbfOffsetSec ?? 0;
    const jti = randomUUID();
    this.issued.set(jti, ++this.seq);
    return (
      new SignJWT({ qsrc: opts.source ?? 'gateway' })
        .setProtectedHeader({ alg: 'RS256', kid: 'qexport-sim-1', typ: 'JWT' })
        .setIssuer(opts.issuer ?? this.issuer)
        .setAudience(opts.audience ?? this.audience)
        .setSubject(opts.sub ?? 'demo')
        .setJti(jti)
        .setIssuedAt(now + Math.min(offset, 0))
        .setNotBefore(now + offset)
        // A negative ttlSec makes an already expired token.
        .setExpirationTime(now + Math.max(offset, 0) + (opts.ttlSec ?? 14_400))
        .sign(opts.foreignKey ? this.foreign : this.key)
    );
  }

  /** Every token issued so far is treated as expired from now on (the 'expire-token' fault). */
  revokeAll(): void {
    this.revokedUpTo = this.seq;
  }

  async check(authorization: string | undefined): Promise<TokenCheck> {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) return { ok: false, message: 'Not authenticated' };
    const token = m[1]!;
    let info = this.cache.get(token);
    if (!info) {
      try {
        const { payload } = await jwtVerify(token, this.publicKey, {
          issuer: this.issuer,
          audience: this.audience,
          clockTolerance: 0,
        });
        info = {
          exp: payload.exp ?? 0,
          jti: payload.jti ?? '',
          sub: payload.sub ?? '',
          source: payload.qsrc === 'idp' ? 'idp' : 'gateway',
        };
        if (this.cache.size > 10_000) this.cache.clear();
        this.cache.set(token, info);
      } catch (err) {
        const code = (err as { code?: string }).code;
        return { ok: false, message: code === 'ERR_JWT_EXPIRED' ? 'JWT expired' : 'Not authenticated' };
      }
    }
    if (info.exp * 1000 <= Date.now()) return { ok: false, message: 'JWT expired' };
    const seq = this.issued.get(info.jti);
    if (seq === undefined) return { ok: false, message: 'Not authenticated' };
    if (seq <= this.revokedUpTo) return { ok: false, message: 'JWT expired' };
    return { ok: true, sub: info.sub, source: info.source };
  }
}
