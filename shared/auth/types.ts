import type { AuthMethod } from '../config';

/** What the token secret holds (JSON). */
export interface StoredToken {
  accessToken: string;
  tokenType: 'Bearer';
  /** ISO 8601 */
  expiresAt: string;
  /** ISO 8601 */
  issuedAt: string;
  method: AuthMethod;
}

/** Result of the token-refresh function; never includes the token. */
export interface RefreshResult {
  refreshed: boolean;
  expiresAt: string;
  method: AuthMethod;
}
