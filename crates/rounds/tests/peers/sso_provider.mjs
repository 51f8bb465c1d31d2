// A real OpenID Connect provider for Rounds' single sign-on tests:
// oidc-provider (npm) with one confidential client, PKCE required, a groups
// and a fhirUser claim, a login page of its own (a form a browser or an
// HTTP client fills in), key rotation, and ways to break its answers.
//
//   node sso_provider.mjs     (cwd: a scratch directory)
//
// Environment:
//   OIDC_PORT            port on 127.0.0.1 (required)
//   ROUNDS_OIDC_MODULE   path of the oidc-provider package
//   SSO_CLIENT_ID        the client (default "rounds"), secret SSO_CLIENT_SECRET
//   SSO_REDIRECT_URIS    comma-separated redirect URIs of the client
//   SSO_POST_LOGOUT_URIS comma-separated post-logout redirect URIs
//   SSO_USERS            JSON {"<sub>": {claims...}} (preferred_username, name,
//                        email, groups, fhirUser)
//   SSO_FOREIGN_KEY / SSO_FOREIGN_ISSUER  another provider's ./signing-key.json
//                        and issuer, for the "foreign" forgery
//
// It writes its private signing key (JWK) to ./signing-key.json. Besides the
// provider it serves:
//   GET  /fhir/.well-known/smart-configuration   (as a SMART EHR would)
//   GET  /interaction/:uid      the login page; POST .../login (login=<sub>),
//                               POST .../refuse (declines consent)
//   POST /test/users            JSON {"<sub>": {claims}} merged into the users
//   POST /test/rotate           new signing key (the old one is withdrawn)
//   POST /test/client           JSON {"redirectUris": [...], "postLogoutUris": [...]}:
//                               the client's addresses from now on (a Rounds on a
//                               new port)
//   POST /test/forge?mode=M     the next token answer carries a broken ID token:
//        issuer | audience | expired | future | nonce | badsig | none | hs256 | foreign
//   GET  /test/stats            {"jwksRequests": n, "tokenRequests": n}
import { createHmac, generateKeyPairSync, createPrivateKey, sign as rsSign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const modulePath = process.env.ROUNDS_OIDC_MODULE;
const { default: Provider } = await import(
  modulePath ? pathToFileURL(path.join(modulePath, 'lib', 'index.js')).href : 'oidc-provider'
);

const port = Number(process.env.OIDC_PORT);
if (!port) throw new Error('OIDC_PORT is required');
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.SSO_CLIENT_ID || 'rounds';
const clientSecret = process.env.SSO_CLIENT_SECRET || 'rounds-client-secret-0123456789';
const list = (v) => (v || '').split(',').map((s) => s.trim()).filter(Boolean);
const users = JSON.parse(process.env.SSO_USERS || '{}');
let redirectUris = list(process.env.SSO_REDIRECT_URIS);
let postLogoutUris = list(process.env.SSO_POST_LOGOUT_URIS);

let keyNumber = 0;
function newKey() {
  keyNumber += 1;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `key-${port}-${keyNumber}-${Date.now()}`, alg: 'RS256', use: 'sig' };
  writeFileSync('signing-key.json', JSON.stringify(jwk), { mode: 0o600 });
  return jwk;
}
let signingKey = newKey();

function makeProvider() {
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: redirectUris,
      post_logout_redirect_uris: postLogoutUris,
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [signingKey] },
    cookies: { keys: ['sso-test-cookie-key-0123456789'] },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email'],
      groups: ['groups'],
      fhirUser: ['fhirUser'],
    },
    scopes: ['openid', 'profile', 'email', 'groups', 'fhirUser'],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: async (ctx, sub) => (users[sub]
      ? { accountId: sub, claims: async () => ({ sub, ...users[sub] }) }
      : undefined),
    ttl: { IdToken: 300, AccessToken: 300, AuthorizationCode: 60, Interaction: 600, Session: 600, Grant: 600 },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  return provider;
}
let provider = makeProvider();
let handler = provider.callback();

const stats = { jwksRequests: 0, tokenRequests: 0 };
let forge = null;

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const unb64 = (s) => JSON.parse(Buffer.from(s, 'base64url').toString());
function signRs256(header, payload, jwk) {
  const input = `${b64(header)}.${b64(payload)}`;
  const sig = rsSign('sha256', Buffer.from(input), createPrivateKey({ key: jwk, format: 'jwk' }));
  return `${input}.${sig.toString('base64url')}`;
}

/** The broken ID token of forgery `mode`, made from a real one. */
function forged(token, mode) {
  const [h, p] = token.split('.');
  const header = unb64(h);
  const claims = unb64(p);
  const now = Math.floor(Date.now() / 1000);
  switch (mode) {
    case 'issuer': claims.iss = 'http://127.0.0.1:1/not-the-issuer'; break;
    case 'audience': claims.aud = 'another-client'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'future': claims.iat = now + 3600; claims.exp = now + 7200; break;
    case 'nonce': delete claims.nonce; break;
    case 'badsig': {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      return signRs256(header, claims, privateKey.export({ format: 'jwk' }));
    }
    case 'none': return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    case 'hs256': {
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: header.kid })}.${b64(claims)}`;
      return `${input}.${createHmac('sha256', clientSecret).update(input).digest('base64url')}`;
    }
    case 'foreign': {
      const key = JSON.parse(readFileSync(process.env.SSO_FOREIGN_KEY, 'utf8'));
      claims.iss = process.env.SSO_FOREIGN_ISSUER;
      return signRs256({ alg: 'RS256', typ: 'JWT', kid: key.kid }, claims, key);
    }
    default: throw new Error(`unknown forgery ${mode}`);
  }
  return signRs256(header, claims, signingKey);
}

function readBody(req) {
  return new Promise((resolve) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => resolve(body));
  });
}

const loginPage = (uid, client) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Hospital sign-in</title></head>
<body><main><h1>Hospital sign-in</h1><p>Signing in to ${client}</p>
<form method="post" action="/interaction/${uid}/login"><label>Login <input name="login" autofocus></label>
<button type="submit" id="login">Sign in</button></form>
<form method="post" action="/interaction/${uid}/refuse"><button type="submit" id="refuse">Do not allow</button></form>
</main></body></html>`;

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (!action) {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(loginPage(uid, details.params.client_id));
    return;
  }
  if (action === 'refuse') {
    await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the person did not allow access' }, { mergeWithLastSubmission: false });
    return;
  }
  const form = new URLSearchParams(await readBody(req));
  const accountId = form.get('login') || '';
  if (!users[accountId]) {
    res.statusCode = 400;
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(`<!doctype html><p>No such person: ${accountId.replace(/[<>&"]/g, '')}</p>`);
    return;
  }
  const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(details.params.scope);
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    const json = (v) => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify(v)); };
    if (req.method === 'GET' && url.pathname === '/fhir/.well-known/smart-configuration') {
      return json({
        issuer,
        jwks_uri: `${issuer}/jwks`,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        scopes_supported: ['openid', 'fhirUser', 'launch/patient', 'patient/*.read'],
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        capabilities: ['launch-standalone', 'client-confidential-symmetric', 'sso-openid-connect', 'context-standalone-patient'],
      });
    }
    const m = url.pathname.match(/^\/interaction\/([^/]+)(?:\/(login|refuse))?$/);
    if (m) return await interaction(req, res, m[1], m[2]);
    if (url.pathname === '/test/stats') return json(stats);
    if (req.method === 'POST' && url.pathname === '/test/users') {
      const changes = JSON.parse(await readBody(req));
      for (const [sub, claims] of Object.entries(changes)) users[sub] = claims;
      return json({ ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/test/rotate') {
      signingKey = newKey();
      provider = makeProvider();
      handler = provider.callback();
      return json({ kid: signingKey.kid });
    }
    if (req.method === 'POST' && url.pathname === '/test/client') {
      const body = JSON.parse(await readBody(req));
      redirectUris = body.redirectUris || [];
      postLogoutUris = body.postLogoutUris || [];
      provider = makeProvider();
      handler = provider.callback();
      return json({ ok: true });
    }
    if (req.method === 'POST' && url.pathname === '/test/forge') {
      forge = url.searchParams.get('mode');
      return json({ forge });
    }
    if (url.pathname === '/jwks') stats.jwksRequests += 1;
    if (req.method === 'POST' && url.pathname === '/token') {
      stats.tokenRequests += 1;
      if (forge) {
        const mode = forge;
        forge = null;
        const end = res.end.bind(res);
        res.end = (chunk, ...rest) => {
          try {
            const body = JSON.parse(chunk.toString());
            if (body.id_token) body.id_token = forged(body.id_token, mode);
            const out = JSON.stringify(body);
            res.setHeader('content-length', Buffer.byteLength(out));
            return end(out);
          } catch (e) {
            return end(chunk, ...rest);
          }
        };
      }
    }
    return handler(req, res);
  } catch (e) {
    console.error('test provider error', e);
    res.statusCode = 500;
    res.end('test provider error');
  }
}).listen(port, '127.0.0.1', () => console.log(`sso provider ready at ${issuer}`));
