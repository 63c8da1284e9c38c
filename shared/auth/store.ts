import { createHash } from 'node:crypto';
import {
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { AUTH_METHODS } from '../config';
import { addSecret } from '../log';
import type { StoredToken } from './types';

export interface TokenRead {
  token: StoredToken;
  versionId: string | undefined;
}

export interface TokenStore {
  /** The current token, or undefined when the secret holds none (new, placeholder or unreadable value). */
  read(): Promise<TokenRead | undefined>;
  /**
   * Writes a new version with PutSecretValue (readers only ever see a whole value). `basedOn` is the version
   * the writer read: two refreshers that read the same version derive the same ClientRequestToken, so
   * Secrets Manager accepts exactly one of them and answers the other with ResourceExistsException.
   * Resolves with the new VersionId, or `undefined` when another refresher won.
   */
  write(token: StoredToken, basedOn: string | undefined): Promise<string | undefined>;
  describe(): string;
}

export function isStoredToken(v: unknown): v is StoredToken {
  const t = v as Partial<StoredToken> | null;
  return (
    !!t &&
    typeof t.accessToken === 'string' &&
    t.accessToken.length > 0 &&
    t.tokenType === 'Bearer' &&
    typeof t.expiresAt === 'string' &&
    !Number.isNaN(Date.parse(t.expiresAt)) &&
    typeof t.issuedAt === 'string' &&
    (AUTH_METHODS as readonly string[]).includes(String(t.method))
  );
}

/** ClientRequestToken (32–64 chars) derived from the version a refresher started from. */
export function requestTokenFor(secretId: string, basedOn: string | undefined): string {
  return `refresh-${createHash('sha256')
    .update(`${secretId}\n${basedOn ?? '(none)'}`)
    .digest('hex')
    .slice(0, 48)}`;
}

export function createSecretsTokenStore(secrets: SecretsManagerClient, secretId: string): TokenStore {
  return {
    async read() {
      let res;
      try {
        res = await secrets.send(new GetSecretValueCommand({ SecretId: secretId }));
      } catch (err) {
        if (err instanceof ResourceNotFoundException) return undefined;
        throw err;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(res.SecretString ?? '');
      } catch {
        return undefined;
      }
      if (!isStoredToken(parsed)) return undefined;
      addSecret(parsed.accessToken);
      return { token: parsed, versionId: res.VersionId };
    },
    async write(token, basedOn) {
      try {
        const res = await secrets.send(
          new PutSecretValueCommand({
            SecretId: secretId,
            SecretString: JSON.stringify(token),
            ClientRequestToken: requestTokenFor(secretId, basedOn),
          }),
        );
        return res.VersionId;
      } catch (err) {
        if (err instanceof ResourceExistsException) return undefined;
        throw err;
      }
    },
    describe: () => `secret ${secretId}`,
  };
}
