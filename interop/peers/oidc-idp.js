// A corporate OpenID Connect identity provider for the federation interop
// test, built on oidc-provider (an OpenID-certified OP that knows nothing of
// Gatehouse). It has its own sign-in page (a login name selects the account;
// any password is accepted), grants the requested scopes without a consent
// page, puts the profile and email claims in the ID token as well as in
// userinfo, allows PKCE (S256) and has RP-initiated logout.
//
//   import { start } from './peers/oidc-idp.js';
//   const idp = await start({ port, clients: [...], accounts: [...] });
//   idp.issuer; await idp.close();
//
// or as a script: node peers/oidc-idp.js CONFIG.json, where the file holds
// the same options; it prints {"issuer": …} and runs until it is stopped.
//
// clients: [{client_id, client_secret, redirect_uris, post_logout_redirect_uris}]
//   (client_secret_basic at the token endpoint, as for any confidential client;
//   token_endpoint_auth_method may be given to change that)
// accounts: [{sub, login, preferred_username?, email, email_verified,
//   given_name, family_name}]

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

import Provider from 'oidc-provider';

import { escapeHTML, readBody } from '../lib.js';

const STYLE = `body{font-family:'Liberation Sans',Arial,sans-serif;background:#eef1f4;margin:0;padding:24px 12px;color:#1d2630}
main{max-width:360px;margin:40px auto;background:#fff;border-top:6px solid #6b2fa0;padding:24px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.2)}
h1{font-size:1.4em;margin:0 0 4px}p.sub{color:#5b6670;margin:0 0 20px}label{display:block;margin:12px 0 4px;font-weight:bold}
input{box-sizing:border-box;width:100%;padding:8px;font-size:1em;border:1px solid #98a2ad;border-radius:3px}
button{margin-top:20px;width:100%;padding:10px;font-size:1em;background:#6b2fa0;color:#fff;border:0;border-radius:3px;cursor:pointer}
.error{background:#fde8e8;color:#8a1414;padding:8px;border-radius:3px;margin-bottom:8px}`;

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHTML(title)} · Corp OIDC</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

function loginPage({ uid, client, error, username = '' }) {
  return page('Sign in', `<h1>Corporate sign-in</h1>
<p class="sub">Corp OIDC, for ${escapeHTML(client)}</p>
${error ? `<p class="error" role="alert">${escapeHTML(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHTML(uid)}/login" autocomplete="off">
<label for="username">Login name</label><input id="username" name="username" required autofocus value="${escapeHTML(username)}">
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button type="submit">Sign in</button>
</form>`);
}

export async function start({ port, clients, accounts }) {
  if (!port) throw new Error('oidc-idp: a port is required');
  const issuer = `http://127.0.0.1:${port}`;
  const byLogin = new Map(accounts.map((a) => [a.login.toLowerCase(), a]));
  const bySub = new Map(accounts.map((a) => [a.sub, a]));

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: `corp-${randomBytes(4).toString('hex')}`, use: 'sig', alg: 'RS256' };

  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      grant_types: ['authorization_code'], response_types: ['code'],
      post_logout_redirect_uris: [], ...c,
    })),
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username', 'given_name', 'family_name', 'name'],
    },
    // The claims of the requested scopes go in the ID token too, not only
    // in userinfo.
    conformIdTokenClaims: false,
    async findAccount(_ctx, id) {
      const a = bySub.get(id);
      if (!a) return undefined;
      return {
        accountId: a.sub,
        async claims() {
          const c = { sub: a.sub, email: a.email, email_verified: Boolean(a.email_verified),
            given_name: a.given_name, family_name: a.family_name,
            name: [a.given_name, a.family_name].filter(Boolean).join(' ') || undefined,
            preferred_username: a.preferred_username };
          return Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined));
        },
      };
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out', `<h1>Sign out of Corp OIDC?</h1>${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button>
<button type="submit" form="op.logoutForm">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out', '<h1>Signed out</h1><p>You are signed out of Corp OIDC.</p>');
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1>Corp OIDC error</h1><p class="error" role="alert">${escapeHTML(out.error)}: ${escapeHTML(out.error_description ?? '')}</p>`);
    },
  });

  const html = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(body);
  };

  // The interaction endpoints: the sign-in form, its submission, and an
  // automatic consent (a corporate IdP's own applications need none).
  async function interaction(req, res, uid, action) {
    let details;
    try {
      details = await provider.interactionDetails(req, res);
    } catch (e) {
      return html(res, 400, page('Error', `<h1>Corp OIDC error</h1><p class="error" role="alert">${escapeHTML(e.message)}</p>`));
    }
    if (details.uid !== uid) return html(res, 400, page('Error', '<h1>Corp OIDC error</h1><p class="error" role="alert">interaction mismatch</p>'));
    const { prompt, params, session } = details;
    const client = (await provider.Client.find(params.client_id))?.clientName ?? params.client_id;

    if (prompt.name === 'login') {
      if (action !== 'login' || req.method !== 'POST') {
        return html(res, 200, loginPage({ uid, client, username: params.login_hint ?? '' }));
      }
      const form = new URLSearchParams(await readBody(req) ?? '');
      const login = (form.get('username') ?? '').trim();
      const account = byLogin.get(login.toLowerCase());
      if (!account || !form.get('password')) {
        return html(res, 200, loginPage({ uid, client, username: login, error: 'Unknown login name or empty password.' }));
      }
      return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
    }

    if (prompt.name === 'consent') {
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
      const d = prompt.details;
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      const grantId = await grant.save();
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    }
    return html(res, 400, page('Error', `<h1>Corp OIDC error</h1><p class="error" role="alert">unsupported prompt ${escapeHTML(prompt.name)}</p>`));
  }

  const callback = provider.callback();
  const server = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, issuer);
    const m = pathname.match(/^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login))?$/);
    if (!m) return callback(req, res);
    try {
      await interaction(req, res, m[1], m[2]);
    } catch (e) {
      if (!res.headersSent) html(res, 500, page('Error', `<h1>Corp OIDC error</h1><p class="error" role="alert">${escapeHTML(e.message)}</p>`));
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 1000;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    issuer,
    provider,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node peers/oidc-idp.js CONFIG.json   ({port, clients, accounts})');
    process.exit(2);
  }
  const idp = await start(JSON.parse(await readFile(file, 'utf8')));
  console.log(JSON.stringify({ issuer: idp.issuer }));
  const stop = async () => { await idp.close(); process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
