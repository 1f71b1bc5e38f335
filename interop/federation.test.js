// Browser-level interoperability of corporate identity provider federation
// (DESIGN.md §2, "Identifier-first sign-in" and "Linking, never guessing"):
// Debian's Chromium, driven by playwright-core, signs pre-provisioned
// corporate users in to an openid-client relying party through Gatehouse,
// which routes them by its discovery rules to three real, independent IdPs
// that know nothing of Gatehouse:
//
// - oidc-provider (peers/oidc-idp.js), an OpenID-certified OP, twice: once
//   with the default username claim (preferred_username), once with
//   "usernameClaim": "email";
// - samlify (peers/saml-idp.js), a SAML 2.0 IdP answering by HTTP-POST,
//   AuthnRequests unsigned;
// - SimpleSAMLphp (peers/simplesamlphp.js), Debian's package, which requires
//   and verifies signed AuthnRequests with the certificate of Gatehouse's SP
//   metadata.
//
// Each sign-in ends at the RP with a code; the ID token's sub is the
// provisioned user's id and its amr says "fed"; the access token carries the
// user's username and roles. login_hint skips the identifier page. Refused,
// with a 403 "Sign-in refused" page and no code for the RP: an IdP user who is
// not provisioned, a disabled user, an email the IdP does not mark verified.
// A username that matches no rule gets the local password page.
// RP-initiated logout ends the federated session.
//
// It builds nothing: GATEHOUSE_BIN names the gatehouse binary (`make
// interop` builds it). scripts/ensure-browser.sh installs Chromium, this
// folder's packages and SimpleSAMLphp. Screenshots of each IdP's login page
// and of Gatehouse's refusal pages, at desktop and phone widths, go to
// INTEROP_SCREENSHOTS when set (kept), else to the run's temp directory,
// which is removed after a pass and kept, with Gatehouse's log and data,
// after a failure.
//
// The scenarios of one IdP do not depend on another's: a failure in one
// group skips the rest of that group only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import {
  CHROMIUM, CHROMIUM_ARGS, DESKTOP, STEP_TIMEOUT, cli, decodeJWT, freePort, shoot, startRP, stopProcess, waitReady,
} from './lib.js';
import * as oidcIdp from './peers/oidc-idp.js';
import * as samlIdp from './peers/saml-idp.js';
import * as simplesamlphp from './peers/simplesamlphp.js';

const ENV = 'acme';
const ROLE = 'STORE_ASSISTANT';

// The IdPs' own accounts. Gatehouse has users of the same usernames, except
// where a scenario says otherwise.
const OIDC_ACCOUNTS = [
  { sub: 'corp-0001', login: 'alice', preferred_username: 'alice@corp.example', email: 'alice@corp.example', email_verified: true, given_name: 'Alice', family_name: 'Archer' },
  { sub: 'corp-0002', login: 'dave', preferred_username: 'dave@corp.example', email: 'dave@corp.example', email_verified: true, given_name: 'Dave', family_name: 'Disabled' },
  { sub: 'corp-0003', login: 'eve', preferred_username: 'eve@corp.example', email: 'eve@corp.example', email_verified: true, given_name: 'Eve', family_name: 'Unknown' },
  // For the IdP whose usernameClaim is email: preferred_username matches
  // no user, so only the email can link.
  { sub: 'corp-0004', login: 'bob', preferred_username: 'bob', email: 'bob@partners.example', email_verified: true, given_name: 'Bob', family_name: 'Baker' },
  { sub: 'corp-0005', login: 'carol', preferred_username: 'carol', email: 'carol@partners.example', email_verified: false, given_name: 'Carol', family_name: 'Unverified' },
];
const SAMLIFY_USERS = [
  { nameID: 'sam@saml.example', attributes: { email: 'sam@saml.example', givenName: 'Sam', sn: 'Samlify' } },
  { nameID: 'nobody@saml.example', attributes: { email: 'nobody@saml.example', givenName: 'No', sn: 'Body' } },
];
const SSP_USERS = [
  { username: 'sue', password: 'sue-Pass-1', attributes: { email: 'sue@ssp.example', givenName: 'Sue', sn: 'Simple' } },
  { username: 'ned', password: 'ned-Pass-1', attributes: { email: 'ned@ssp.example', givenName: 'Ned', sn: 'Nobody' } },
];

test('corporate users sign in through oidc-provider, samlify and SimpleSAMLphp', { timeout: 240_000 }, async (t) => {
  const bin = process.env.GATEHOUSE_BIN;
  assert.ok(bin, 'set GATEHOUSE_BIN to the gatehouse binary (make interop builds it)');
  await access(bin, constants.X_OK).catch(() => assert.fail(`GATEHOUSE_BIN ${bin} is not an executable file`));
  await access(CHROMIUM, constants.X_OK).catch(() => assert.fail(`no Chromium at ${CHROMIUM}: run scripts/ensure-browser.sh`));
  await access(path.join(simplesamlphp.SSP_WWW, 'saml2/idp/metadata.php'))
    .catch(() => assert.fail('SimpleSAMLphp is not installed: run scripts/ensure-simplesamlphp.sh'));

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-federation-'));
  const dataDir = path.join(tmp, 'data');
  const shots = process.env.INTEROP_SCREENSHOTS || path.join(tmp, 'screenshots');
  await mkdir(shots, { recursive: true });
  const logFile = path.join(tmp, 'gatehouse.log');
  let rp, gatehouse, browser;
  const peers = {};

  // Steps run in order. A failed setup step skips everything after it. A
  // step names its groups, its own first: its failure skips the later steps
  // of its own group, and it is skipped when any of its groups has failed
  // (so one IdP's scenarios do not hang on another's).
  const broken = new Set();
  let failures = 0;
  const step = (name, fn, groups = 'setup') => {
    const [own, ...deps] = [].concat(groups);
    const failed = ['setup', own, ...deps].find((g) => broken.has(g));
    return t.test(name, { skip: failed && `an earlier ${failed} step failed` }, async (st) => {
      try { await fn(st); } catch (e) { broken.add(own); failures++; throw e; }
    });
  };

  const killServer = () => gatehouse?.exitCode === null && gatehouse.kill('SIGKILL');
  process.once('exit', killServer);
  t.after(async () => {
    await browser?.close().catch(() => {});
    const sspLog = failures ? await peers.ssp?.sspLog?.() : '';
    for (const p of Object.values(peers)) await p.close({ keep: failures > 0 }).catch(() => {});
    await stopProcess(gatehouse);
    process.off('exit', killServer);
    rp?.close();
    if (!failures) {
      await rm(tmp, { recursive: true, force: true });
    } else {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      for (const line of log.trimEnd().split('\n').slice(-40)) t.diagnostic(`gatehouse.log: ${line}`);
      for (const line of (sspLog ?? '').trimEnd().split('\n').slice(-15)) if (line) t.diagnostic(`simplesamlphp.log: ${line}`);
      t.diagnostic(`kept for diagnosis: ${tmp} (gatehouse.log, data/, screenshots/`
        + `${peers.ssp ? `, ${path.basename(peers.ssp.dir)}/ with SimpleSAMLphp's config, php.log and log/` : ''})`);
    }
  });

  // ---- Setup: the RP's endpoints, Gatehouse's data by its CLI, the server.
  rp = await startRP();
  const callback = `${rp.origin}/callback`;
  const signedOut = `${rp.origin}/signed-out`;
  const port = await freePort();
  const issuerBase = `http://127.0.0.1:${port}`;
  const issuer = `${issuerBase}/${ENV}`;
  const store = ['--data-dir', dataDir, '--output', 'json'];
  // The peers' ports are chosen now: Gatehouse is told of the IdPs first,
  // and the peers are then configured with Gatehouse's endpoints.
  const ports = { oidc: await freePort(), samlify: await freePort(), ssp: await freePort() };
  const oidcIssuer = `http://127.0.0.1:${ports.oidc}`;

  let web, admin;
  await step('set up acme and the applications (CLI), then gatehouse serve answers /readyz', async () => {
    await cli(bin, ['env', 'create', ENV, '--display-name', 'Acme Corp', ...store]);
    web = await cli(bin, ['app', 'create', '--env', ENV, '--name', 'Acme shop', '--type', 'web', '--redirect-uri', callback,
      '--grant-type', 'authorization_code', ...store]);
    assert.ok(web.clientId && web.clientSecret, 'app create prints the client id and secret');
    admin = await cli(bin, ['app', 'create', '--env', ENV, '--name', 'interop admin', '--type', 'service',
      '--role', 'ENVIRONMENT_ADMIN', ...store]);
    const log = await open(logFile, 'w');
    gatehouse = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--base-url', issuerBase, '--data-dir', dataDir],
      { stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    await waitReady(issuerBase, gatehouse, logFile);
  });

  // The management API, with a client_credentials token of the admin app.
  let token;
  const api = async (method, pathname, body) => {
    const r = await fetch(`${issuerBase}/api/v1/environments/${ENV}${pathname}`, {
      method, signal: AbortSignal.timeout(10_000),
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
    return { status: r.status, body: json, what: `${method} ${pathname} ${body ? JSON.stringify(body) : ''} → ${r.status} ${text.slice(0, 600)}` };
  };
  const expectStatus = (res, status) => assert.equal(res.status, status, res.what);

  let config;
  await step('a management token, the post-logout URI, and the role exists', async () => {
    const adminConfig = await client.discovery(new URL(issuer), admin.clientId, admin.clientSecret, undefined,
      { execute: [client.allowInsecureRequests], timeout: 10 });
    ({ access_token: token } = await client.clientCredentialsGrant(adminConfig));
    const patched = await api('PATCH', `/applications/${web.id}`, { postLogoutRedirectUris: [signedOut] });
    expectStatus(patched, 200);
    const roles = await api('GET', '/roles');
    expectStatus(roles, 200);
    const names = (roles.body.items ?? roles.body).map((r) => r.name ?? r.role ?? r.id);
    assert.ok(names.includes(ROLE), `GET /roles lists ${ROLE}: ${JSON.stringify(names)}`);
    config = await client.discovery(new URL(issuer), web.clientId, web.clientSecret, undefined,
      { execute: [client.allowInsecureRequests], timeout: 10 });
  });

  // ---- The identity providers in Gatehouse, their rules and their users.
  const idps = {};
  const oidcSecrets = { corp: randomBytes(16).toString('hex'), partners: randomBytes(16).toString('hex') };
  const createIdP = async (key, body) => {
    const res = await api('POST', '/identity-providers', body);
    expectStatus(res, 201);
    assert.ok(res.body.id, res.what);
    assert.equal(res.body.type, body.type);
    assert.ok(!JSON.stringify(res.body).includes(oidcSecrets.corp) && !JSON.stringify(res.body).includes(oidcSecrets.partners),
      'the client secret is never answered');
    idps[key] = res.body;
    return res.body;
  };
  const users = {};
  const provision = async (idpKey, username, firstName) => {
    const res = await api('POST', '/users', { username, type: 'RETAILER', identityProvider: idps[idpKey].id, primaryEmail: username,
      firstName, lastName: 'Corporate', roles: [{ role: ROLE }] });
    expectStatus(res, 201);
    assert.equal(res.body.passwordState, 'EXTERNAL', res.what);
    assert.equal(res.body.identityProvider, idps[idpKey].id, res.what);
    users[username] = res.body;
  };
  const rule = async (body) => expectStatus(await api('POST', '/discovery-rules', body), 201);

  await step('OIDC: two IdPs on oidc-provider (one with usernameClaim email), their rules (a domain, a pattern) and users; one user disabled', async () => {
    const scopes = ['openid', 'profile', 'email'];
    const corp = await createIdP('corp', { name: 'Corp OIDC', type: 'OIDC', jitProvisioning: false,
      oidc: { issuer: oidcIssuer, clientId: 'gatehouse-acme', clientSecret: oidcSecrets.corp, scopes } });
    assert.equal(corp.endpoints?.redirectUri, `${issuer}/oidc/${corp.id}/callback`, JSON.stringify(corp));
    const partners = await createIdP('partners', { name: 'Partners OIDC (email)', type: 'OIDC', jitProvisioning: false,
      oidc: { issuer: oidcIssuer, clientId: 'gatehouse-acme-partners', clientSecret: oidcSecrets.partners, scopes, usernameClaim: 'email' } });
    assert.equal(partners.endpoints?.redirectUri, `${issuer}/oidc/${partners.id}/callback`, JSON.stringify(partners));
    await rule({ order: 1, emailDomain: 'corp.example', identityProviderId: corp.id });
    await rule({ order: 2, pattern: '[^@]+@partners\\.example', identityProviderId: partners.id });
    await provision('corp', 'alice@corp.example', 'Alice');
    await provision('corp', 'dave@corp.example', 'Dave');
    await provision('partners', 'bob@partners.example', 'Bob');
    await provision('partners', 'carol@partners.example', 'Carol');
    const res = await api('PATCH', `/users/${users['dave@corp.example'].id}`, { status: 'INACTIVE' });
    expectStatus(res, 200);
    assert.equal(res.body.status, 'INACTIVE');
  }, 'oidc');

  for (const [key, name, metadataUrl, signAuthnRequests, domain, order, username, firstName] of [
    ['samlify', 'Corp SAML (samlify)', `http://127.0.0.1:${ports.samlify}/metadata`, false, 'saml.example', 3, 'sam@saml.example', 'Sam'],
    ['ssp', 'Corp SAML (SimpleSAMLphp)', `http://127.0.0.1:${ports.ssp}/saml2/idp/metadata.php`, true, 'ssp.example', 4, 'sue@ssp.example', 'Sue'],
  ]) {
    await step(`SAML (${key}): the IdP (signAuthnRequests ${signAuthnRequests}), its rule (${domain}) and its user`, async () => {
      const p = await createIdP(key, { name, type: 'SAML', jitProvisioning: false, saml: { metadataUrl, signAuthnRequests } });
      assert.equal(p.endpoints?.metadataUrl, `${issuer}/saml/${p.id}/metadata`, JSON.stringify(p));
      assert.equal(p.endpoints?.acsUrl, `${issuer}/saml/${p.id}/acs`, JSON.stringify(p));
      assert.ok(p.endpoints?.entityId, `a SAML IdP's endpoints name the SP entity id: ${JSON.stringify(p)}`);
      await rule({ order, emailDomain: domain, identityProviderId: p.id });
      await provision(key, username, firstName);
    }, key);
  }

  // ---- The peers, configured with Gatehouse's endpoints.
  await step('start oidc-provider with Gatehouse\'s two redirect URIs as clients', async () => {
    peers.oidc = await oidcIdp.start({
      port: ports.oidc,
      clients: [
        { client_id: 'gatehouse-acme', client_secret: oidcSecrets.corp, redirect_uris: [idps.corp.endpoints.redirectUri] },
        { client_id: 'gatehouse-acme-partners', client_secret: oidcSecrets.partners, redirect_uris: [idps.partners.endpoints.redirectUri] },
      ],
      accounts: OIDC_ACCOUNTS,
    });
    assert.equal(peers.oidc.issuer, oidcIssuer);
  }, 'oidc');
  await step('start samlify with Gatehouse\'s SP metadata URL', async () => {
    const md = await fetch(idps.samlify.endpoints.metadataUrl, { signal: AbortSignal.timeout(10_000) });
    assert.equal(md.status, 200, `GET ${idps.samlify.endpoints.metadataUrl}`);
    const xml = await md.text();
    assert.match(xml, new RegExp(`entityID="${idps.samlify.endpoints.entityId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`), 'the SP metadata names the entity id');
    assert.ok(xml.includes(idps.samlify.endpoints.acsUrl), 'the SP metadata names the ACS');
    peers.samlify = await samlIdp.start({ port: ports.samlify, spMetadataUrl: idps.samlify.endpoints.metadataUrl, users: SAMLIFY_USERS });
  }, 'samlify');
  let sspSPMetadata = '';
  await step('start SimpleSAMLphp with Gatehouse\'s SP metadata (its signing certificate), requiring signed AuthnRequests', async () => {
    const md = await fetch(idps.ssp.endpoints.metadataUrl, { signal: AbortSignal.timeout(10_000) });
    assert.equal(md.status, 200, `GET ${idps.ssp.endpoints.metadataUrl}`);
    sspSPMetadata = await md.text();
    assert.match(sspSPMetadata, /X509Certificate>/, 'the SP metadata carries a certificate');
    peers.ssp = await simplesamlphp.start({ port: ports.ssp, spMetadataUrl: idps.ssp.endpoints.metadataUrl, users: SSP_USERS, validateAuthnRequests: true, parentDir: tmp });
  }, 'ssp');

  await step('the SP metadata of an IdP with signAuthnRequests says AuthnRequestsSigned="true"', () => {
    assert.match(sspSPMetadata, /AuthnRequestsSigned="true"/);
  }, ['ssp-metadata', 'ssp']);

  // ---- The browser.
  const consoleProblems = [];
  await step('Chromium starts', async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  });

  // A fresh browser (context) per scenario: no Gatehouse or IdP session.
  const newPage = async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT);
    const page = await context.newPage();
    const ours = (u) => String(u).startsWith(`${issuerBase}/`);
    page.on('console', (m) => {
      const where = m.location().url || page.url();
      if (m.type() === 'error' && ours(where)) consoleProblems.push(`${where}: ${m.text()}`);
    });
    page.on('pageerror', (e) => { if (ours(page.url())) consoleProblems.push(`${page.url()}: ${e.message}`); });
    page.navigations = [];
    page.on('response', (r) => {
      if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
        page.navigations.push({ url: r.url(), status: r.status(), location: r.headers().location });
      }
    });
    return page;
  };

  const expectGatehousePage = async (page, title) => {
    await page.getByRole('heading', { level: 1, name: title }).waitFor();
    assert.ok(page.url().startsWith(`${issuer}/`), `expected a hosted page, at ${page.url()}`);
    assert.match(await page.title(), new RegExp(`^${title} · Acme Corp$`));
    const card = await page.locator('main.card').evaluate((m) => getComputedStyle(m).backgroundColor);
    assert.equal(card, 'rgb(255, 255, 255)', `${title}: the stylesheet did not apply`);
  };

  // Each IdP's sign-in page: how to know it, and how to sign in there.
  const IDP_PAGES = {
    oidc: {
      origin: () => oidcIssuer,
      ready: (page) => page.getByRole('heading', { level: 1, name: 'Corporate sign-in' }).waitFor(),
      async signIn(page, login) {
        await page.getByLabel('Login name').fill(login);
        await page.getByLabel('Password').fill('corp-Pass-1');
        await page.getByRole('button', { name: 'Sign in' }).click();
      },
    },
    samlify: {
      origin: () => `http://127.0.0.1:${ports.samlify}`,
      ready: (page) => page.getByRole('heading', { level: 1, name: 'Corp SAML sign-in' }).waitFor(),
      async signIn(page, login) {
        await page.locator('input[name=username]').fill(login);
        await page.locator('input[name=password]').fill('corp-Pass-1');
        await page.getByRole('button', { name: 'Sign in' }).click();
      },
    },
    ssp: {
      origin: () => `http://127.0.0.1:${ports.ssp}`,
      ready: (page) => page.locator('input[name=username]').waitFor(),
      async signIn(page, login) {
        await page.locator('input[name=username]').fill(login);
        await page.locator('input[name=password]').fill(SSP_USERS.find((u) => u.username === login)?.password ?? 'x');
        await page.getByRole('button', { name: 'Login' }).click();
      },
    },
  };

  // federated runs one sign-in, in a fresh browser unless given a page: the
  // RP's authorization request, Gatehouse's identifier page (unless
  // loginHint), the IdP's own page (unless idpSession), then either the code
  // at the RP (answered with the tokens) or Gatehouse's refusal.
  const federated = async (opts) => {
    opts.page ??= await newPage();
    const problemsBefore = consoleProblems.length;
    try {
      return await federatedIn(opts);
    } catch (e) {
      // Say where the browser was left, and what it complained of.
      const { page } = opts;
      e.message += `\n  the browser is at ${page.url()} ("${await page.title().catch(() => '?')}")`
        + `\n  its navigations: ${page.navigations.map((n) => `${n.status} ${n.url}${n.location ? ` (Location: ${n.location})` : ''}`).join(' → ')}`
        + consoleProblems.slice(problemsBefore).map((p) => `\n  console: ${p}`).join('');
      throw e;
    }
  };
  const federatedIn = async ({ kind, username, login, loginHint, expect, reason, shot, idpShot, page, idpSession = false }) => {
    const idp = IDP_PAGES[kind];
    const verifier = client.randomPKCECodeVerifier(), state = client.randomState(), nonce = client.randomNonce();
    const authURL = client.buildAuthorizationUrl(config, {
      redirect_uri: callback, scope: 'openid profile email', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
      ...(loginHint ? { login_hint: loginHint } : {}),
    });
    const seenBefore = rp.seen.length;
    page.navigations.length = 0;
    await page.goto(authURL.href);
    if (loginHint) {
      await idp.ready(page);
      assert.ok(page.url().startsWith(`${idp.origin()}/`), `login_hint went straight to the IdP, at ${page.url()}`);
      const shown = page.navigations.filter((n) => n.url.startsWith(`${issuerBase}/`) && n.status === 200);
      assert.deepEqual(shown, [], 'with login_hint, no Gatehouse page is shown on the way to the IdP');
    } else {
      await expectGatehousePage(page, 'Sign in');
      await page.getByLabel('Username').fill(username);
      // With its own session still alive, the IdP answers at once, without
      // its page: Continue leads back through Gatehouse to the RP.
      if (!idpSession) {
        await page.getByRole('button', { name: 'Continue' }).click();
        await idp.ready(page);
        assert.ok(page.url().startsWith(`${idp.origin()}/`), `at the IdP's page, at ${page.url()}`);
      }
    }
    if (idpShot) await shoot(page, shots, idpShot, { noSidewaysScroll: false });

    const signIn = () => (idpSession ? page.getByRole('button', { name: 'Continue' }).click() : idp.signIn(page, login));
    if (expect === 'refused') {
      await signIn();
      await expectGatehousePage(page, 'Sign-in refused');
      // The reason, as the page words it today.
      if (reason) assert.match(await page.locator('main').innerText(), reason);
      const last = page.navigations.at(-1);
      assert.equal(last?.status, 403, `the refusal page's status, at ${last?.url}: ${JSON.stringify(page.navigations)}`);
      if (shot) await shoot(page, shots, shot);
      assert.ok(!rp.seen.slice(seenBefore).some((r) => r.url.pathname === '/callback'), 'no answer reached the RP');
      return { page };
    }
    const arrived = rp.next('/callback');
    await signIn();
    const got = await arrived;
    await page.waitForURL((u) => u.href.startsWith(callback));
    assert.equal(got.url.searchParams.get('error'), null, `the RP got an error: ${got.url.href}`);
    assert.equal(got.url.searchParams.get('iss'), issuer);
    const tokens = await client.authorizationCodeGrant(config, got.url,
      { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    return { page, tokens, claims: tokens.claims(), access: decodeJWT(tokens.access_token) };
  };

  // checkTokens: the RP's tokens speak of the provisioned user, signed in by
  // federation, with their roles.
  const checkTokens = ({ claims, access }, username) => {
    const user = users[username];
    assert.equal(claims.sub, user.id, 'the ID token names the provisioned user');
    assert.equal(claims.iss, issuer);
    assert.ok(Array.isArray(claims.amr) && claims.amr.includes('fed'), `amr includes "fed": ${JSON.stringify(claims.amr)}`);
    assert.equal(access.sub, user.id);
    assert.equal(access.username, user.username, 'the access token carries the username');
    assert.ok(Array.isArray(access.roles) && access.roles.some((r) => (r?.role ?? r) === ROLE),
      `the access token carries ${ROLE}: ${JSON.stringify(access.roles)}`);
  };

  // ---- OIDC: oidc-provider.
  let alice;
  await step('OIDC: alice@corp.example is routed to oidc-provider, signs in there, and the RP gets her tokens', async () => {
    alice = await federated({ kind: 'oidc', username: 'alice@corp.example', login: 'alice', expect: 'code', idpShot: 'fed-1-oidc-provider-login' });
    checkTokens(alice, 'alice@corp.example');
    assert.equal(alice.claims.preferred_username, 'alice@corp.example');
  }, ['oidc-alice', 'oidc']);

  await step('OIDC: RP-initiated logout ends the federated session; prompt=none then answers login_required', async () => {
    const { page, tokens } = alice;
    const arrived = rp.next('/signed-out');
    await page.goto(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: signedOut, state: 'bye-fed' }).href);
    await page.waitForURL((u) => u.href.startsWith(signedOut));
    assert.equal((await arrived).url.searchParams.get('state'), 'bye-fed');
    const noneState = client.randomState();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid', state: noneState, prompt: 'none',
      nonce: client.randomNonce(), code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    await page.goto(url.href);
    await page.waitForURL((u) => u.href.startsWith(callback));
    const back = new URL(page.url());
    assert.equal(back.searchParams.get('error'), 'login_required', back.href);
  }, ['oidc-alice', 'oidc']);

  await step('OIDC: signing in again while the IdP\'s own session lives (no IdP page) reaches the RP as alice', async () => {
    const again = await federated({ kind: 'oidc', username: 'alice@corp.example', expect: 'code', page: alice.page, idpSession: true });
    checkTokens(again, 'alice@corp.example');
    assert.notEqual(again.claims.auth_time, undefined);
    await alice.page.context().close();
  }, ['oidc-sso', 'oidc-alice', 'oidc']);

  await step('OIDC: with login_hint the identifier page is skipped; usernameClaim email links bob by his verified email', async () => {
    const bob = await federated({ kind: 'oidc', loginHint: 'bob@partners.example', login: 'bob', expect: 'code' });
    checkTokens(bob, 'bob@partners.example');
    await bob.page.context().close();
  }, ['oidc-hint', 'oidc']);

  await step('OIDC: an IdP user who is not provisioned in Gatehouse is refused (403)', async () => {
    const { page } = await federated({ kind: 'oidc', username: 'eve@corp.example', login: 'eve', expect: 'refused', reason: /no account/i, shot: 'fed-2-refused-not-provisioned' });
    await page.context().close();
  }, ['oidc-unknown', 'oidc']);

  await step('OIDC: a provisioned user disabled in Gatehouse is refused although the IdP says yes (403)', async () => {
    const { page } = await federated({ kind: 'oidc', username: 'dave@corp.example', login: 'dave', expect: 'refused', reason: /disabled/i, shot: 'fed-3-refused-disabled' });
    await page.context().close();
  }, ['oidc-disabled', 'oidc']);

  await step('OIDC: an email the IdP does not mark verified never links (usernameClaim email, 403)', async () => {
    const { page } = await federated({ kind: 'oidc', username: 'carol@partners.example', login: 'carol', expect: 'refused', reason: /not verified/i, shot: 'fed-4-refused-unverified-email' });
    await page.context().close();
  }, ['oidc-unverified', 'oidc']);

  // ---- SAML: samlify.
  await step('SAML (samlify): sam@saml.example signs in at samlify, whose signed Response Gatehouse accepts', async (st) => {
    const sam = await federated({ kind: 'samlify', username: 'sam@saml.example', login: 'sam@saml.example', expect: 'code', idpShot: 'fed-5-samlify-login' });
    checkTokens(sam, 'sam@saml.example');
    const req = peers.samlify.requests.at(-1);
    assert.equal(req?.issuer, idps.samlify.endpoints.entityId, `the AuthnRequest's issuer is the SP entity id: ${JSON.stringify(req)}`);
    st.diagnostic(`Gatehouse sent its AuthnRequest to samlify by HTTP-${req.binding === 'post' ? 'POST' : 'Redirect'}, ${req.signed ? 'signed' : 'unsigned'}`);
    await sam.page.context().close();
  }, ['samlify-sam', 'samlify']);

  await step('SAML (samlify): an IdP user who is not provisioned is refused (403)', async () => {
    const { page } = await federated({ kind: 'samlify', username: 'nobody@saml.example', login: 'nobody@saml.example', expect: 'refused', reason: /no account/i, shot: 'fed-6-refused-saml' });
    await page.context().close();
  }, ['samlify-unknown', 'samlify']);

  // ---- SAML: SimpleSAMLphp.
  await step('SAML (SimpleSAMLphp): sue@ssp.example signs in; SimpleSAMLphp verified the signed AuthnRequest', async (st) => {
    const sue = await federated({ kind: 'ssp', username: 'sue@ssp.example', login: 'sue', expect: 'code', idpShot: 'fed-7-simplesamlphp-login' });
    checkTokens(sue, 'sue@ssp.example');
    const sso = (await peers.ssp.log()).split('\n').filter((l) => l.includes('/saml2/idp/SSOService.php')).at(-1) ?? '';
    st.diagnostic(`Gatehouse sent its AuthnRequest to SimpleSAMLphp by ${/\bPOST\b/.test(sso) ? 'HTTP-POST' : /[?&]Signature=/.test(sso) ? 'HTTP-Redirect, signed' : `an unexpected request: ${sso}`}`);
    await sue.page.context().close();
  }, ['ssp-sue', 'ssp']);

  await step('SAML (SimpleSAMLphp): an IdP user who is not provisioned is refused (403)', async () => {
    const { page } = await federated({ kind: 'ssp', username: 'ned@ssp.example', login: 'ned', expect: 'refused', reason: /no account/i });
    await page.context().close();
  }, ['ssp-unknown', 'ssp']);

  // ---- Local users are not routed.
  await step('a username that matches no rule gets the local password page', async () => {
    const page = await newPage();
    const url = client.buildAuthorizationUrl(config, { redirect_uri: callback, scope: 'openid', state: client.randomState(),
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    await page.goto(url.href);
    await expectGatehousePage(page, 'Sign in');
    await page.getByLabel('Username').fill('zed@elsewhere.example');
    await page.getByRole('button', { name: 'Continue' }).click();
    await expectGatehousePage(page, 'Enter your password');
    for (const p of Object.values(peers)) assert.ok(!page.navigations.some((n) => n.url.startsWith(p.issuer ?? p.ssoUrl ?? '-')), 'no IdP was visited');
    await page.context().close();
  }, 'local');

  await step('no console errors or CSP violations on Gatehouse\'s pages', () => {
    // The pages name no icon, so Chromium asks for /favicon.ico, which
    // Gatehouse does not serve; the refusal pages are 403 on purpose.
    assert.deepEqual(consoleProblems.filter((p) => !/\/favicon\.ico: |status of 403/.test(p)), []);
  });
  if (process.env.INTEROP_SCREENSHOTS) t.diagnostic(`screenshots: ${shots}`);
});
