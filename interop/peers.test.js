// The peer identity providers of federation.test.js, checked on their own,
// without Gatehouse, so that a failure of the federation test can be laid on
// Gatehouse and not on a peer:
//
// - peers/oidc-idp.js (oidc-provider): its discovery document, and a sign-in
//   through its login page in Chromium for a plain openid-client RP; the ID
//   token carries the email claims; RP-initiated logout.
// - peers/saml-idp.js (samlify): its metadata parses; an AuthnRequest from a
//   samlify SP, by HTTP-Redirect and by HTTP-POST, shows the login page;
//   a listed user's signed Response reaches the SP's ACS with the
//   RelayState and passes the SP's checks; an unlisted user gets an error.
// - peers/simplesamlphp.js (SimpleSAMLphp): its metadata parses; a signed
//   AuthnRequest from a samlify SP (whose metadata SimpleSAMLphp fetched)
//   shows its login page; its signed Response passes the SP's checks, with
//   the email as NameID; an unsigned request is refused.
//
// Needs Chromium (scripts/ensure-browser.sh) and SimpleSAMLphp
// (scripts/ensure-simplesamlphp.sh); screenshots go to INTEROP_SCREENSHOTS
// when set.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, constants, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, DESKTOP, STEP_TIMEOUT, freePort, selfSignedCertificate, shoot, startRP } from './lib.js';
import * as oidcIdp from './peers/oidc-idp.js';
import * as samlIdp from './peers/saml-idp.js';
import * as ssp from './peers/simplesamlphp.js';

const require = createRequire(import.meta.url);
const samlify = require('samlify');
const { binding: BINDING } = samlify.Constants.namespace;

test('the peer identity providers work on their own', { timeout: 120_000 }, async (t) => {
  await access(CHROMIUM, constants.X_OK).catch(() => assert.fail(`no Chromium at ${CHROMIUM}: run scripts/ensure-browser.sh`));
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-peers-'));
  const shots = process.env.INTEROP_SCREENSHOTS || path.join(tmp, 'screenshots');
  await mkdir(shots, { recursive: true });

  let broken = false;
  const step = (name, fn) => t.test(name, { skip: broken && 'an earlier step failed' }, async (st) => {
    try { await fn(st); } catch (e) { broken = true; throw e; }
  });
  const closers = [];
  t.after(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
    if (!broken) await rm(tmp, { recursive: true, force: true });
    else t.diagnostic(`kept for diagnosis: ${tmp}`);
  });

  // The SP's endpoints (for OIDC: the RP's): the samlify SP's metadata is
  // served at /sp/metadata, its ACS is /acs.
  let spMetadata = '';
  const rp = await startRP({
    routes: {
      '/sp/metadata': (_r, res) => { res.writeHead(200, { 'Content-Type': 'application/samlmetadata+xml' }); res.end(spMetadata); },
    },
  });
  closers.push(async () => rp.close());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  closers.push(() => browser.close());
  const newPage = async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT);
    closers.push(() => context.close());
    return context.newPage();
  };

  // ---- oidc-provider
  await step('oidc-idp: discovery, and a Chromium sign-in for an openid-client RP with PKCE', async () => {
    const port = await freePort();
    const idp = await oidcIdp.start({
      port,
      clients: [{ client_id: 'rp', client_secret: 'rp-secret', redirect_uris: [`${rp.origin}/callback`], post_logout_redirect_uris: [`${rp.origin}/bye`] }],
      accounts: [{ sub: 'corp-0001', login: 'alice', preferred_username: 'alice@corp.example', email: 'alice@corp.example',
        email_verified: true, given_name: 'Alice', family_name: 'Archer' }],
    });
    closers.push(() => idp.close());
    const config = await client.discovery(new URL(idp.issuer), 'rp', 'rp-secret', undefined, { execute: [client.allowInsecureRequests], timeout: 10 });
    const meta = config.serverMetadata();
    assert.equal(meta.issuer, `http://127.0.0.1:${port}`);
    assert.ok(meta.code_challenge_methods_supported.includes('S256'));
    assert.ok(meta.end_session_endpoint, 'an end_session_endpoint');
    assert.ok(meta.scopes_supported.includes('email'));

    const page = await newPage();
    const verifier = client.randomPKCECodeVerifier(), state = client.randomState(), nonce = client.randomNonce();
    await page.goto(client.buildAuthorizationUrl(config, { redirect_uri: `${rp.origin}/callback`, scope: 'openid profile email', state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' }).href);
    await page.getByRole('heading', { level: 1, name: 'Corporate sign-in' }).waitFor();
    await shoot(page, shots, 'peer-oidc-login');
    await page.getByLabel('Login name').fill('nobody');
    await page.getByLabel('Password').fill('x');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Unknown login name' }).waitFor();
    await page.getByLabel('Login name').fill('alice');
    await page.getByLabel('Password').fill('anything');
    const arrived = rp.next('/callback');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const got = await arrived;
    const tokens = await client.authorizationCodeGrant(config, got.url, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    const claims = tokens.claims();
    assert.equal(claims.sub, 'corp-0001');
    assert.equal(claims.email, 'alice@corp.example', 'email in the ID token');
    assert.equal(claims.email_verified, true);
    assert.equal(claims.preferred_username, 'alice@corp.example');
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.email, 'alice@corp.example');

    const bye = rp.next('/bye');
    await page.goto(client.buildEndSessionUrl(config, { id_token_hint: tokens.id_token, post_logout_redirect_uri: `${rp.origin}/bye`, state: 's1' }).href);
    await page.getByRole('button', { name: 'Yes, sign me out' }).click();
    assert.equal((await bye).url.searchParams.get('state'), 's1');
  });

  // ---- samlify, for both SAML peers: an SP with a signing key, so that its
  // AuthnRequests can be signed.
  const spCert = await selfSignedCertificate('interop SP');
  const spEntityId = `${rp.origin}/sp`;
  const makeSP = (authnRequestsSigned) => samlify.ServiceProvider({
    entityID: spEntityId,
    authnRequestsSigned,
    wantAssertionsSigned: true,
    signingCert: spCert.certPem,
    privateKey: spCert.keyPem,
    nameIDFormat: ['urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
    assertionConsumerService: [{ Binding: BINDING.post, Location: `${rp.origin}/acs` }],
  });

  // parseACS has the SP check the Response that reached its ACS.
  const parseACS = async (sp, idpMetadataXml, record) => {
    const body = Object.fromEntries(new URLSearchParams(record.body));
    const idp = samlify.IdentityProvider({ metadata: idpMetadataXml });
    const { extract, samlContent } = await sp.parseLoginResponse(idp, 'post', { body });
    return { extract, samlContent, relayState: body.RelayState };
  };

  await step('saml-idp: metadata, an AuthnRequest by redirect and by POST, a signed Response with an AuthnStatement', async () => {
    const sp = makeSP(false);
    spMetadata = sp.getMetadata();
    const port = await freePort();
    const idp = await samlIdp.start({
      port, spMetadataUrl: `${rp.origin}/sp/metadata`,
      users: [{ nameID: 'sam@saml.example', attributes: { email: 'sam@saml.example', givenName: 'Sam', sn: 'Smith' } }],
    });
    closers.push(() => idp.close());
    const metadataXml = await (await fetch(idp.metadataUrl)).text();
    const idpEntity = samlify.IdentityProvider({ metadata: metadataXml });
    assert.equal(idpEntity.entityMeta.getEntityID(), idp.entityId);
    assert.ok(idpEntity.entityMeta.getX509Certificate('signing'), 'a signing certificate');
    assert.ok(idpEntity.entityMeta.getSingleSignOnService(BINDING.redirect));
    assert.ok(idpEntity.entityMeta.getSingleSignOnService(BINDING.post));

    // By redirect, a listed user.
    const page = await newPage();
    const { id, context: url } = sp.createLoginRequest(idpEntity, 'redirect', { relayState: 'relay-1' });
    await page.goto(url);
    await page.getByRole('heading', { level: 1, name: 'Corp SAML sign-in' }).waitFor();
    await shoot(page, shots, 'peer-samlify-login');
    await page.locator('input[name=username]').fill('sam@saml.example');
    const arrived = rp.next('/acs');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const got = await arrived;
    await page.waitForURL(`${rp.origin}/acs`);
    await page.waitForLoadState();
    assert.equal(got.method, 'POST');
    const { extract, samlContent, relayState } = await parseACS(sp, metadataXml, got);
    assert.equal(relayState, 'relay-1');
    assert.equal(extract.nameID, 'sam@saml.example');
    assert.equal(extract.response.inResponseTo, id);
    assert.equal(extract.response.destination, `${rp.origin}/acs`);
    assert.deepEqual([].concat(extract.audience), [spEntityId]);
    assert.equal(extract.attributes.email, 'sam@saml.example');
    assert.match(samlContent, /<saml:AuthnStatement /);
    assert.match(samlContent, /Recipient="[^"]+\/acs" InResponseTo=/);
    assert.equal((samlContent.match(/<ds:Signature[\s>]/g) ?? []).length, 2, 'Response and Assertion signed');
    assert.deepEqual(idp.requests.at(-1), { binding: 'redirect', id, issuer: spEntityId, signed: false });

    // By POST, an unlisted user.
    const post = sp.createLoginRequest(idpEntity, 'post');
    await page.setContent(`<form method="post" action="${post.entityEndpoint}"><input type="hidden" name="SAMLRequest" value="${post.context}">`
      + '<input type="hidden" name="RelayState" value="relay-2"><button>go</button></form>');
    await page.getByRole('button', { name: 'go' }).click();
    await page.getByRole('heading', { level: 1, name: 'Corp SAML sign-in' }).waitFor();
    assert.equal(idp.requests.at(-1).binding, 'post');
    await page.locator('input[name=username]').fill('mallory@saml.example');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign-in failed' }).waitFor();
    await shoot(page, shots, 'peer-samlify-unknown-user');
  });

  await step('SimpleSAMLphp: metadata, a signed AuthnRequest, a signed Response with the email as NameID', async () => {
    const sp = makeSP(true);
    spMetadata = sp.getMetadata();
    const port = await freePort();
    const idp = await ssp.start({
      port, spMetadataUrl: `${rp.origin}/sp/metadata`,
      users: [{ username: 'sue', password: 'sue-pass', attributes: { email: 'sue@ssp.example', givenName: 'Sue', sn: 'Storm' } }],
    });
    closers.push(() => idp.close());
    assert.equal(idp.validateAuthnRequests, true, 'the SP metadata has a certificate: requests must be signed');
    const metadataXml = await (await fetch(idp.metadataUrl)).text();
    const idpEntity = samlify.IdentityProvider({ metadata: metadataXml });
    assert.equal(idpEntity.entityMeta.getEntityID(), idp.entityId);
    assert.ok(idpEntity.entityMeta.getX509Certificate('signing'), 'a signing certificate');

    // An unsigned request is refused.
    const page = await newPage();
    assert.equal(idpEntity.entityMeta.isWantAuthnRequestsSigned(), true, 'the metadata says WantAuthnRequestsSigned');
    const unsigned = new URL(sp.createLoginRequest(idpEntity, 'redirect').context);
    unsigned.searchParams.delete('Signature');
    unsigned.searchParams.delete('SigAlg');
    await page.goto(unsigned.href);
    await page.getByText('Validation of received messages enabled, but no signature found on message.').waitFor();

    const { id, context: url } = sp.createLoginRequest(idpEntity, 'redirect', { relayState: 'relay-3' });
    assert.match(url, /[?&]Signature=/);
    await page.goto(url);
    await page.locator('input[name=username]').waitFor();
    await shoot(page, shots, 'peer-simplesamlphp-login', { noSidewaysScroll: false });
    await page.locator('input[name=username]').fill('sue');
    await page.locator('input[name=password]').fill('sue-pass');
    const arrived = rp.next('/acs');
    await page.getByRole('button', { name: 'Login' }).click();
    const got = await arrived;
    const { extract, samlContent, relayState } = await parseACS(sp, metadataXml, got);
    assert.equal(relayState, 'relay-3');
    assert.equal(extract.nameID, 'sue@ssp.example');
    assert.equal(extract.response.inResponseTo, id);
    assert.match(samlContent, /AuthnStatement/);
    assert.equal((samlContent.match(/<ds:Signature[\s>]/g) ?? []).length, 2, 'Response and Assertion signed');
    assert.doesNotMatch(samlContent, /EncryptedAssertion/);
  });
});
