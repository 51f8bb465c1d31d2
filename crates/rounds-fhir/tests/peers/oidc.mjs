// A real OAuth 2.0 authorization server for rounds-fhir's tests: oidc-provider
// (npm) with client-credentials clients for each way Rounds authenticates.
//
//   node oidc.mjs   (cwd: a scratch directory; NODE_PATH not needed when
//                    ROUNDS_OIDC_MODULE points at oidc-provider's folder)
//
// Environment: OIDC_PORT (required), ROUNDS_EXTRA_CLIENT_ID/_JWKS (below),
// OIDC_TOKEN_TTL seconds for the client
// "rounds-short" (default 5; every other client's tokens live 300 s),
// ROUNDS_OIDC_MODULE (path of the oidc-provider package).
// It writes fresh SMART Backend Services keys (PKCS#8 PEM) to ./rs384.pem
// and ./es384.pem, registers their public halves, and serves besides the
// provider GET /test/stats: how many token requests it answered.
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modulePath = process.env.ROUNDS_OIDC_MODULE;
const { default: Provider } = await import(
  modulePath ? pathToFileURL(path.join(modulePath, 'lib', 'index.js')).href : 'oidc-provider'
);

const port = Number(process.env.OIDC_PORT);
if (!port) throw new Error('OIDC_PORT is required');
const ttl = Number(process.env.OIDC_TOKEN_TTL || 5);
const issuer = `http://127.0.0.1:${port}`;

function keyPair(file, options, kid) {
  const { privateKey, publicKey } = generateKeyPairSync(options.type, options.params);
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig' };
}
const rsJwk = keyPair('rs384.pem', { type: 'rsa', params: { modulusLength: 2048 } }, 'rounds-rs384');
const esJwk = keyPair('es384.pem', { type: 'ec', params: { namedCurve: 'P-384' } }, 'rounds-es384');

const common = {
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  scope: 'system/*.read tenant:acme tenant:other',
};
// One more SMART Backend Services client with keys made elsewhere (Rounds
// makes a team's key pair and shows its JWKS to register):
// ROUNDS_EXTRA_CLIENT_ID and ROUNDS_EXTRA_CLIENT_JWKS ({"keys": [...]}).
const extra = process.env.ROUNDS_EXTRA_CLIENT_ID
  ? [{ ...common, client_id: process.env.ROUNDS_EXTRA_CLIENT_ID, token_endpoint_auth_method: 'private_key_jwt',
       token_endpoint_auth_signing_alg: 'ES384', jwks: JSON.parse(process.env.ROUNDS_EXTRA_CLIENT_JWKS || '{"keys":[]}') }]
  : [];
const provider = new Provider(issuer, {
  clients: [
    ...extra,
    { ...common, client_id: 'rounds-basic', client_secret: 'basic-secret-0123456789abcdef',
      token_endpoint_auth_method: 'client_secret_basic' },
    { ...common, client_id: 'rounds-post', client_secret: 'post-secret-0123456789abcdef',
      token_endpoint_auth_method: 'client_secret_post' },
    { ...common, client_id: 'rounds-short', client_secret: 'short-secret-0123456789abcdef',
      token_endpoint_auth_method: 'client_secret_basic' },
    { ...common, client_id: 'rounds-rs384', token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'RS384', jwks: { keys: [rsJwk] } },
    { ...common, client_id: 'rounds-es384', token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES384', jwks: { keys: [esJwk] } },
  ],
  scopes: ['system/*.read', 'tenant:acme', 'tenant:other'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: false },
  },
  enabledJWA: { clientAuthSigningAlgValues: ['RS384', 'ES384', 'RS256', 'ES256'] },
  // Short-lived tokens only where renewal is under test: elsewhere a loaded
  // machine could let a token expire between issue and introspection.
  ttl: { ClientCredentials: (ctx, token, client) => (client.clientId === 'rounds-short' ? ttl : 300) },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));

const stats = { tokenRequests: 0, scopes: [] };
provider.on('client_credentials.saved', (token) => stats.scopes.push(token.scope));
const handler = provider.callback();
http
  .createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/test/stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(stats));
      return;
    }
    if (req.method === 'POST' && req.url === '/token') stats.tokenRequests += 1;
    handler(req, res);
  })
  .listen(port, '127.0.0.1', () => console.log(`oidc-provider ready at ${issuer}`));
