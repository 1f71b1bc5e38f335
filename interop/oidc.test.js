// Browser-level interoperability: Debian's Chromium, driven by
// playwright-core, signs a first-time user in through Gatehouse's hosted
// pages (identifier, password, forced password change) for a relying party
// built on openid-client, an OpenID-certified client that knows nothing of
// Gatehouse. The RP then uses every endpoint a web application uses: token
// (code with PKCE, refresh), userinfo, introspection, revocation, and
// RP-initiated logout back through the browser, after which prompt=none
// answers login_required.
//
// It builds nothing: GATEHOUSE_BIN names the gatehouse binary (`make
// interop` builds it). scripts/ensure-browser.sh installs Chromium (Debian's
// package, /usr/bin/chromium; CHROMIUM_PATH overrides) and this folder's
// packages. Screenshots of each hosted page, at desktop and phone widths, go
// to INTEROP_SCREENSHOTS when set (kept), else to the run's temp directory,
// which is removed after a pass and kept, with Gatehouse's log and data,
// after a failure.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, access, constants, open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, DESKTOP, STEP_TIMEOUT, cli, freePort, shoot as shootPage, startRP, stopProcess, waitReady } from './lib.js';

const ENV = 'acme';
const USERNAME = 'jane@acme.example';
const FIRST_PASSWORD = 'first-Pass-1234';
const NEW_PASSWORD = 'second-Pass-5678';

test('a browser signs in through the hosted pages for an openid-client RP', { timeout: 180_000 }, async (t) => {
  const bin = process.env.GATEHOUSE_BIN;
  assert.ok(bin, 'set GATEHOUSE_BIN to the gatehouse binary (make interop builds it)');
  await access(bin, constants.X_OK).catch(() => assert.fail(`GATEHOUSE_BIN ${bin} is not an executable file`));
  await access(CHROMIUM, constants.X_OK).catch(() => assert.fail(`no Chromium at ${CHROMIUM}: run scripts/ensure-browser.sh`));

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-interop-'));
  const dataDir = path.join(tmp, 'data');
  const shots = process.env.INTEROP_SCREENSHOTS || path.join(tmp, 'screenshots');
  await mkdir(shots, { recursive: true });
  const logFile = path.join(tmp, 'gatehouse.log');
  let rp, gatehouse, browser, passed = false;

  // Steps run in order; once one fails the rest are skipped, so that the
  // report names the first broken step and nothing after it.
  let broken = false;
  const step = (name, fn) => t.test(name, { skip: broken && 'an earlier step failed' }, async (st) => {
    try { await fn(st); } catch (e) { broken = true; throw e; }
  });

  // Whatever happens, the server does not outlive the test.
  const killServer = () => gatehouse?.exitCode === null && gatehouse.kill('SIGKILL');
  process.once('exit', killServer);
  t.after(async () => {
    await browser?.close().catch(() => {});
    await stopProcess(gatehouse);
    process.off('exit', killServer);
    rp?.close();
    if (passed && !broken) {
      await rm(tmp, { recursive: true, force: true });
    } else {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      for (const line of log.trimEnd().split('\n').slice(-30)) t.diagnostic(`gatehouse.log: ${line}`);
      t.diagnostic(`kept for diagnosis: ${tmp} (gatehouse.log, data/, screenshots/)`);
    }
  });

  try {
    // ---- Setup: the RP's endpoints, then Gatehouse's data by its CLI, then the server.
    rp = await startRP();
    const callback = `${rp.origin}/callback`;
    const signedOut = `${rp.origin}/signed-out`;
    const port = await freePort();
    const issuerBase = `http://127.0.0.1:${port}`;
    const issuer = `${issuerBase}/${ENV}`;
    const store = ['--data-dir', dataDir, '--output', 'json'];

    let user, web, admin;
    await step('set up acme, a user who must change password, and the applications (CLI)', async () => {
      await cli(bin, ['env', 'create', ENV, '--display-name', 'Acme Corp', ...store]);
      user = await cli(bin, ['user', 'create', USERNAME, '--env', ENV, '--first-name', 'Jane', '--last-name', 'Doe',
        '--email', USERNAME, '--password-stdin', ...store], { input: FIRST_PASSWORD + '\n' });
      assert.equal(user.passwordState, 'MUST_CHANGE_PASSWORD');
      web = await cli(bin, ['app', 'create', '--env', ENV, '--name', 'Acme shop', '--type', 'web', '--redirect-uri', callback,
        '--grant-type', 'authorization_code', '--grant-type', 'refresh_token', ...store]);
      assert.ok(web.clientId && web.clientSecret, 'app create prints the client id and secret');
      admin = await cli(bin, ['app', 'create', '--env', ENV, '--name', 'interop admin', '--type', 'service',
        '--role', 'ENVIRONMENT_ADMIN', ...store]);
    });

    await step('gatehouse serve answers /readyz', async () => {
      const log = await open(logFile, 'w');
      gatehouse = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--base-url', issuerBase, '--data-dir', dataDir],
        { stdio: ['ignore', log.fd, log.fd] });
      await log.close();
      await waitReady(issuerBase, gatehouse, logFile);
    });

    // The CLI has no flags for refresh tokens or post-logout redirect URIs:
    // the management API sets them, with a client_credentials token.
    await step('enable refresh tokens and register the post-logout URI (management API)', async () => {
      const adminConfig = await client.discovery(new URL(issuer), admin.clientId, admin.clientSecret, undefined,
        { execute: [client.allowInsecureRequests], timeout: 10 });
      const { access_token: token } = await client.clientCredentialsGrant(adminConfig);
      const r = await fetch(`${issuerBase}/api/v1/environments/${ENV}/applications/${web.id}`, {
        method: 'PATCH', signal: AbortSignal.timeout(10_000),
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ refreshTokens: true, postLogoutRedirectUris: [signedOut] }),
      });
      const body = await r.json();
      assert.equal(r.status, 200, JSON.stringify(body));
      assert.equal(body.refreshTokens, true);
      assert.deepEqual(body.postLogoutRedirectUris, [signedOut]);
    });

    // ---- The relying party.
    // Every response the RP gets from Gatehouse, for header checks.
    const exchanges = [];
    const recordingFetch = async (url, options) => {
      const r = await fetch(url, options);
      exchanges.push({ method: options?.method ?? 'GET', url: String(url), status: r.status, headers: r.headers,
        auth: new Headers(options?.headers).get('authorization')?.split(' ')[0] });
      return r;
    };
    let config;
    await step('openid-client discovers the issuer', async () => {
      config = await client.discovery(new URL(issuer), web.clientId, web.clientSecret, undefined,
        { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks], timeout: 10, [client.customFetch]: recordingFetch });
      assert.equal(config.serverMetadata().issuer, issuer);
    });

    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    let page, context;
    const consoleProblems = [];

    // shoot takes the page at desktop and phone widths, and checks that the
    // phone width needs no sideways scrolling.
    const shoot = (name) => shootPage(page, shots, name);
    const expectHostedPage = async (title) => {
      await page.getByRole('heading', { level: 1, name: title }).waitFor();
      assert.ok(page.url().startsWith(`${issuer}/`), `expected a hosted page, at ${page.url()}`);
      assert.match(await page.title(), new RegExp(`^${title} · Acme Corp$`));
      // The stylesheet loaded under the pages' CSP: the card and the button have their colours.
      const card = await page.locator('main.card').evaluate((m) => getComputedStyle(m).backgroundColor);
      assert.equal(card, 'rgb(255, 255, 255)', `${title}: the stylesheet did not apply`);
      const submit = page.locator('button[type=submit]:not(.link)');
      if (await submit.count() > 0) {
        assert.equal(await submit.last().evaluate((b) => getComputedStyle(b).backgroundColor), 'rgb(31, 95, 191)');
      }
    };

    let callbackURL, policyRules = [];
    await step('Chromium signs in: identifier, password, forced change, back to the RP', async () => {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
      context = await browser.newContext({ viewport: DESKTOP });
      context.setDefaultTimeout(STEP_TIMEOUT);
      context.setDefaultNavigationTimeout(STEP_TIMEOUT);
      page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error') consoleProblems.push(`${m.location().url || page.url()}: ${m.text()}`); });
      page.on('response', (r) => { if (r.status() >= 400) consoleProblems.push(`${r.request().method()} ${r.url()}: ${r.status()}`); });
      page.on('pageerror', (e) => consoleProblems.push(`${page.url()}: ${e.message}`));

      const authURL = client.buildAuthorizationUrl(config, {
        redirect_uri: callback, scope: 'openid profile email', state, nonce, max_age: '600',
        code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      });
      await page.goto(authURL.href);

      await expectHostedPage('Sign in');
      assert.equal(await page.evaluate(() => document.activeElement?.name), 'username', 'the username field has focus');
      await shoot('1-identifier');
      await page.getByLabel('Username').fill(USERNAME);
      await page.getByRole('button', { name: 'Continue' }).click();

      await expectHostedPage('Enter your password');
      await page.getByText(`Signing in as ${USERNAME}`).waitFor();
      await shoot('2-password');
      await page.getByLabel('Password', { exact: true }).fill('not-the-password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'The username or password is not right' }).waitFor();
      await expectHostedPage('Enter your password');
      await shoot('2-password-wrong');
      await page.getByLabel('Password', { exact: true }).fill(FIRST_PASSWORD);
      await page.getByRole('button', { name: 'Sign in' }).click();

      await expectHostedPage('Change your password');
      policyRules = await page.getByRole('list', { name: 'Password rules' }).getByRole('listitem').allInnerTexts();
      await shoot('3-change-password');
      await page.getByLabel('Current password').fill(FIRST_PASSWORD);
      await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
      await page.getByLabel('New password again').fill(NEW_PASSWORD);
      const arrived = rp.next('/callback');
      await page.getByRole('button', { name: /^Change password/ }).click();
      await page.waitForURL((u) => u.href.startsWith(callback));
      callbackURL = new URL(page.url());
      const got = await arrived;
      assert.equal(got.method, 'GET');
      assert.equal(got.url.href, callbackURL.href, 'the RP received what the browser shows');
      assert.equal(callbackURL.searchParams.get('iss'), issuer, 'RFC 9207 iss in the response');
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === 'gh_session');
      assert.ok(session, 'a single sign-on session cookie');
      assert.equal(session.httpOnly, true);
      assert.equal(session.sameSite, 'Lax');
      assert.equal(session.path, `/${ENV}/`);
      assert.ok(!cookies.some((c) => c.name === 'gh_login'), 'the finished sign-in\'s cookie is gone');
    });

    let tokens, claims;
    await step('authorizationCodeGrant checks state, iss, nonce, PKCE and the ID token signature', async () => {
      tokens = await client.authorizationCodeGrant(config, callbackURL,
        { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true, maxAge: 600 });
      claims = tokens.claims();
      assert.equal(claims.sub, user.id);
      assert.equal(claims.iss, issuer);
      assert.equal(claims.aud, web.clientId);
      assert.equal(claims.nonce, nonce);
      assert.equal(claims.preferred_username, USERNAME);
      assert.equal(claims.email, USERNAME);
      assert.deepEqual(claims.amr, ['pwd']);
      assert.equal(typeof claims.auth_time, 'number');
      assert.ok(tokens.access_token && tokens.refresh_token, 'an access token and a refresh token');
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      // enableNonRepudiationChecks verified the signature with the issuer's
      // JWKS, which is now in openid-client's cache.
      const kid = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url')).kid;
      const jwks = client.getJwksCache(config);
      assert.ok(jwks?.jwks?.keys?.some((k) => k.kid === kid), `the ID token's key ${kid} came from ${issuer}/oauth2/jwks`);
    });

    let refreshed;
    await step('refresh rotates the refresh token', async () => {
      refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
      assert.ok(refreshed.access_token);
      assert.ok(refreshed.refresh_token, 'a new refresh token');
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
      assert.notEqual(refreshed.access_token, tokens.access_token);
      const old = await client.tokenIntrospection(config, tokens.refresh_token);
      assert.equal(old.active, false, 'the used refresh token is no longer active');
    });

    await step('userinfo answers for the same subject as the ID token', async () => {
      const info = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
      assert.equal(info.sub, claims.sub);
      assert.equal(info.email, USERNAME);
      assert.equal(info.preferred_username, USERNAME);
    });

    // Introspection and revocation authenticate with client_secret_basic
    // (the token endpoint above used openid-client's default, client_secret_post).
    await step('introspection, then revocation, of the access and refresh tokens (client_secret_basic)', async () => {
      const basic = new client.Configuration(config.serverMetadata(), web.clientId, web.clientSecret, client.ClientSecretBasic(web.clientSecret));
      client.allowInsecureRequests(basic);
      basic.timeout = 10;
      basic[client.customFetch] = recordingFetch;
      const introspect = (token) => client.tokenIntrospection(basic, token);
      const from = exchanges.length;
      const at = await introspect(refreshed.access_token);
      assert.equal(at.active, true);
      assert.equal(at.sub, user.id);
      assert.equal(at.client_id, web.clientId);
      assert.equal(at.username, USERNAME);
      const rt = await introspect(refreshed.refresh_token);
      assert.equal(rt.active, true);
      assert.equal(rt.sub, user.id);

      await client.tokenRevocation(basic, refreshed.access_token);
      assert.equal((await introspect(refreshed.access_token)).active, false, 'revoked access token');
      await assert.rejects(client.fetchUserInfo(config, refreshed.access_token, claims.sub),
        (e) => e instanceof client.WWWAuthenticateChallengeError && e.status === 401 &&
          e.cause?.[0]?.scheme === 'bearer' && e.cause?.[0]?.parameters?.error === 'invalid_token',
        'userinfo refuses a revoked access token with a Bearer invalid_token challenge');

      await client.tokenRevocation(basic, refreshed.refresh_token);
      assert.equal((await introspect(refreshed.refresh_token)).active, false, 'revoked refresh token');
      const used = exchanges.slice(from).filter((x) => /\/oauth2\/(introspect|revoke)$/.test(x.url));
      assert.ok(used.length >= 6 && used.every((x) => x.auth === 'Basic'), 'introspection and revocation used client_secret_basic');
      await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token),
        (e) => e.error === 'invalid_grant', 'a revoked refresh token is refused with invalid_grant');
    });

    // The response comes back by form post: Gatehouse's page posts itself
    // to the RP by its script, under its own Content-Security-Policy.
    await step('single sign-on: prompt=none with response_mode=form_post answers with a code', async () => {
      const v = client.randomPKCECodeVerifier(), st = client.randomState(), n = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid profile', state: st, nonce: n,
        prompt: 'none', response_mode: 'form_post', code_challenge: await client.calculatePKCECodeChallenge(v), code_challenge_method: 'S256' });
      const arrived = rp.next('/callback');
      await page.goto(url.href);
      const got = await arrived;
      assert.equal(got.method, 'POST', 'the response came by form post');
      await page.waitForURL((u) => u.href === callback);
      const posted = new Request(callback, { method: 'POST', body: got.body,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
      const sso = await client.authorizationCodeGrant(config, posted,
        { pkceCodeVerifier: v, expectedState: st, expectedNonce: n, idTokenExpected: true });
      assert.equal(sso.claims().sub, user.id);
      assert.equal(sso.claims().auth_time, claims.auth_time, 'the same sign-in, not a new one');
    });

    await step('RP-initiated logout through the browser, back to the registered URI with state', async () => {
      const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: signedOut, state: 'bye-1' });
      const arrived = rp.next('/signed-out');
      await page.goto(url.href);
      await page.waitForURL((u) => u.href.startsWith(signedOut));
      const back = await arrived;
      assert.equal(back.url.searchParams.get('state'), 'bye-1');
      assert.equal(new URL(page.url()).searchParams.get('state'), 'bye-1');
      const cookies = await context.cookies();
      assert.ok(!cookies.some((c) => c.name === 'gh_session'), 'the session cookie is gone');
    });

    await step('after logout, prompt=none returns login_required to the callback', async () => {
      const noneState = client.randomState();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid', state: noneState, prompt: 'none',
        nonce: client.randomNonce(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
      await page.goto(url.href);
      await page.waitForURL((u) => u.href.startsWith(callback));
      const back = new URL(page.url());
      assert.equal(back.searchParams.get('error'), 'login_required', back.href);
      // openid-client checks the error response's state and iss, then raises it.
      await assert.rejects(client.authorizationCodeGrant(config, back, { expectedState: noneState }),
        (e) => e instanceof client.AuthorizationResponseError && e.error === 'login_required');
    });

    await step('an unregistered post-logout URI is not followed: the signed-out page', async () => {
      const url = client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: `${rp.origin}/elsewhere` });
      await page.goto(url.href);
      await expectHostedPage('Signed out');
      await page.getByText('You are signed out').waitFor();
      assert.ok(!rp.seen.some((r) => r.url.pathname === '/elsewhere'), 'never sent to an unregistered URI');
      await shoot('4-signed-out');
    });

    await step('the change-password page words its rules in good English', () => {
      for (const rule of policyRules) assert.doesNotMatch(rule, /\b1 \w+s\b/, `rule "${rule}"`);
    });
    await step('discovery advertises the iss of its authorization responses (RFC 9207)', () => {
      assert.equal(config.serverMetadata().authorization_response_iss_parameter_supported, true);
    });

    await step('token, userinfo and introspection responses are never cached (RFC 6749 §5.1)', async () => {
      const endpoints = ['/oauth2/token', '/oauth2/userinfo', '/oauth2/introspect'].map((e) => issuer + e);
      const checked = exchanges.filter((x) => endpoints.includes(x.url.split('?')[0]));
      assert.ok(checked.length >= 8, `saw ${checked.length} such responses`);
      for (const x of checked) assert.match(x.headers.get('cache-control') ?? '', /no-store/, `${x.method} ${x.url} ${x.status}`);
    });

    await step('no console errors or CSP violations on the hosted pages', async () => {
      // The pages name no icon, so Chromium asks for /favicon.ico, which
      // Gatehouse does not serve: a console line, not a fault of the pages.
      assert.deepEqual(consoleProblems.filter((p) => !/\/favicon\.ico: /.test(p)), []);
    });
    passed = true;
  } finally {
    if (process.env.INTEROP_SCREENSHOTS) t.diagnostic(`screenshots: ${shots}`);
  }
});
