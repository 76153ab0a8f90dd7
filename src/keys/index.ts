/** API keys: issue (secret shown once), list, revoke, and the per-request authenticator. */
export { createApiKey, listApiKeys, apiKeyFromRow, API_KEY_COLUMNS, getApiKey, revokeApiKey, revocationChannel, publishTenantKeysChanged, apiKeyRoles, type ApiKeyRole, type ApiKeyInfo, type CreatedApiKey, type KeysDeps } from './repo.js';
export { createApiKeyAuthenticator, type ApiKeyAuthenticator, type LiveApiKey, type AuthenticatorOptions } from './authenticator.js';
export { hashSecret, looksLikeSecret, displayPrefix, SECRET_PREFIX } from './secret.js';
