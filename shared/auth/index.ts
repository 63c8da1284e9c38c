export { checkToken, type TokenInfo } from './check';
export { obtainToken, tokenEndpoint, type ObtainedToken } from './obtain';
export { createLocalTokenProvider, createSecretsTokenProvider, lambdaRefresher } from './providers';
export { refreshToken, type RefreshDeps } from './refresh';
export { handleTokenRefresh, parseRefreshEvent, type RefreshHandlerDeps } from './refresh-handler';
export {
  createSecretsTokenStore,
  isStoredToken,
  requestTokenFor,
  type TokenRead,
  type TokenStore,
} from './store';
export type { RefreshResult, StoredToken } from './types';
