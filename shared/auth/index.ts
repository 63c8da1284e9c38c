export { checkToken, type TokenInfo } from './check';
export { describeShape, obtainToken, tokenEndpoint, type ObtainedToken, type ObtainOptions } from './obtain';
export {
  createLocalTokenProvider,
  createPciAuth,
  createSecretsTokenProvider,
  lambdaRefresher,
  pciIdpCredentials,
} from './providers';
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
