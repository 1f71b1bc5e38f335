// Browser-level second factors and account recovery (DESIGN.md §2 "MFA
// policies", §8): Debian's Chromium, driven by playwright-core, signs local
// users in through Gatehouse's hosted pages for an openid-client relying
// party, with the environment's MFA policy on:
//
// 1. TOTP: enrolment at sign-in (QR code and key as text; the test is the
//    authenticator app, RFC 6238 with node:crypto), the ten recovery codes
//    shown once, then a sign-in with the next code (a code already used is
//    refused);
// 2. a recovery code works once;
// 3. a passkey, registered and then used through the Chrome DevTools
//    Protocol's virtual authenticator (ctap2, internal, resident keys, user
//    verification);
// 4. email codes, read back from mailpit, at enrolment and at sign-in; a
//    wrong or stale code is refused;
// 5. the policy's failure limit blocks the second factor (HTTP 429), and
//    then even the right code is refused until an administrator unblocks;
// 6. "Forgot your password?": a code by email (the same answer for a user
//    who does not exist), a new password, the old one refused, the code
//    single-use.
//
// Each ID token's amr names the factors (RFC 8176). WebAuthn refuses an IP
// address as its RP ID, so Gatehouse's base URL and every URL the browser
// opens use localhost.
//
// It builds nothing: GATEHOUSE_BIN names the gatehouse binary (`make
// interop` builds it). scripts/ensure-browser.sh installs Chromium, this
// folder's packages and mailpit (scripts/ensure-mailpit.sh, which this
// test also runs to find it; MAILPIT overrides). Screenshots of every
// second-factor and reset page, at desktop and phone widths, go to
// INTEROP_SCREENSHOTS when set (kept), else to the run's temp directory,
// which is removed after a pass and kept, with Gatehouse's and mailpit's
// logs and data, after a failure.
//
// Scenarios 2 and 5 use the user and codes of 1; the others stand alone. A
// failure skips the later steps of its own group only.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import {
  Authenticator, CHROMIUM, CHROMIUM_ARGS, DESKTOP, STEP_TIMEOUT, base32Decode, cli, freePort, hotp, shoot, startMailpit, startRP,
  stopProcess, totpStep, waitReady,
} from './lib.js';

const ENV = 'acme';
const FROM_NAME = 'Acme sign-in', FROM_ADDRESS = 'signin@acme.example';
const USERS = {
  totp: { username: 'tom@acme.example', password: 'Tom-Pass-1234', first: 'Tom' },
  passkey: { username: 'pat@acme.example', password: 'Pat-Pass-1234', first: 'Pat' },
  email: { username: 'emma@acme.example', password: 'Emma-Pass-1234', first: 'Emma' },
  reset: { username: 'rita@acme.example', password: 'Rita-Pass-1234', first: 'Rita' },
};
const RESET_PASSWORD = 'Rita-New-Pass-5678';
const POLICY = {
  enabled: true, allowedMethods: ['WEBAUTHN', 'TOTP', 'EMAIL', 'RECOVERY_CODE'], whenNotEnrolled: 'ENROL',
  failureLimit: 3, blockSeconds: 600, userVerification: 'preferred',
};

test('second factors and password recovery in Chromium', { timeout: 200_000 }, async (t) => {
  const bin = process.env.GATEHOUSE_BIN;
  assert.ok(bin, 'set GATEHOUSE_BIN to the gatehouse binary (make interop builds it)');
  await access(bin, constants.X_OK).catch(() => assert.fail(`GATEHOUSE_BIN ${bin} is not an executable file`));
  await access(CHROMIUM, constants.X_OK).catch(() => assert.fail(`no Chromium at ${CHROMIUM}: run scripts/ensure-browser.sh`));

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-mfa-'));
  const dataDir = path.join(tmp, 'data');
  const shots = process.env.INTEROP_SCREENSHOTS || path.join(tmp, 'screenshots');
  await mkdir(shots, { recursive: true });
  const logFile = path.join(tmp, 'gatehouse.log');
  let rp, gatehouse, browser, mail;

  // Steps run in order. A failed setup step skips everything after it; a
  // scenario's failure skips the later steps of its group and of the groups
  // that depend on it.
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
    await stopProcess(gatehouse);
    await mail?.close();
    process.off('exit', killServer);
    rp?.close();
    if (!failures) {
      await rm(tmp, { recursive: true, force: true });
    } else {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      for (const line of log.trimEnd().split('\n').slice(-40)) t.diagnostic(`gatehouse.log: ${line}`);
      t.diagnostic(`kept for diagnosis: ${tmp} (gatehouse.log, mailpit.log, data/, screenshots/)`);
    }
    if (process.env.INTEROP_SCREENSHOTS) t.diagnostic(`screenshots: ${shots}`);
  });

  // ---- Setup: mailpit, the RP's endpoints, Gatehouse's data by its CLI, the server.
  rp = await startRP();
  const callback = `${rp.origin}/callback`;
  const port = await freePort();
  const base = `http://localhost:${port}`;
  const issuer = `${base}/${ENV}`;
  const store = ['--data-dir', dataDir, '--output', 'json'];
  const users = {};
  let web, admin;

  await step('mailpit, then acme, its users and applications (CLI), then gatehouse serve with SMTP answers /readyz', async () => {
    mail = await startMailpit(tmp, path.join(tmp, 'mailpit.log'));
    await cli(bin, ['env', 'create', ENV, '--display-name', 'Acme Corp', ...store]);
    web = await cli(bin, ['app', 'create', '--env', ENV, '--name', 'Acme shop', '--type', 'web', '--redirect-uri', callback,
      '--grant-type', 'authorization_code', ...store]);
    assert.ok(web.clientId && web.clientSecret, 'app create prints the client id and secret');
    admin = await cli(bin, ['app', 'create', '--env', ENV, '--name', 'interop admin', '--type', 'service',
      '--role', 'ENVIRONMENT_ADMIN', ...store]);
    for (const [key, u] of Object.entries(USERS)) {
      users[key] = await cli(bin, ['user', 'create', u.username, '--env', ENV, '--first-name', u.first, '--last-name', 'Tester',
        '--email', u.username, '--password-stdin', '--force-change=false', ...store], { input: u.password + '\n' });
      assert.notEqual(users[key].passwordState, 'MUST_CHANGE_PASSWORD', `${u.username}: a final password`);
    }
    const log = await open(logFile, 'w');
    gatehouse = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--base-url', base, '--data-dir', dataDir], {
      stdio: ['ignore', log.fd, log.fd],
      env: { ...process.env, GATEHOUSE_SMTP_URL: mail.smtpURL, GATEHOUSE_SMTP_FROM: `${FROM_NAME} <${FROM_ADDRESS}>` },
    });
    await log.close();
    await waitReady(base, gatehouse, logFile);
  });

  // The management API, with a client_credentials token of the admin app.
  let token;
  const api = async (method, pathname, body) => {
    const r = await fetch(`${base}/api/v1/environments/${ENV}${pathname}`, {
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
  const userMFA = async (key) => {
    const res = await api('GET', `/users/${users[key].id}/mfa`);
    expectStatus(res, 200);
    return res.body;
  };

  let config;
  await step('the MFA policy by the management API; openid-client discovers the issuer at localhost', async () => {
    const adminConfig = await client.discovery(new URL(issuer), admin.clientId, admin.clientSecret, undefined,
      { execute: [client.allowInsecureRequests], timeout: 10 });
    ({ access_token: token } = await client.clientCredentialsGrant(adminConfig));
    const put = await api('PUT', '/mfa-policy', POLICY);
    expectStatus(put, 200);
    assert.deepEqual(put.body, POLICY, put.what);
    const got = await api('GET', '/mfa-policy');
    expectStatus(got, 200);
    assert.deepEqual(got.body, POLICY, got.what);
    config = await client.discovery(new URL(issuer), web.clientId, web.clientSecret, undefined,
      { execute: [client.allowInsecureRequests], timeout: 10 });
    assert.equal(config.serverMetadata().issuer, issuer);
  });

  // ---- The browser. Each scenario has its own context (cookies), so each
  // sign-in starts without a session.
  const consoleProblems = [];
  const ours = (u) => String(u).startsWith(`${base}/`);
  const newPage = async () => {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    const context = await browser.newContext({ viewport: DESKTOP });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT);
    const page = await context.newPage();
    await watch(page);
    return page;
  };
  // watch records a page's console errors and failed responses, and gives
  // it the DevTools Protocol's virtual WebAuthn environment, with no
  // authenticator until a scenario adds one. Without it, headless Chromium
  // answers the pages' navigator.credentials calls with its own browser
  // dialog, which nobody sees or can cancel, and which holds the page: a
  // click on "Or set up: an authenticator app" would not navigate until
  // the WebAuthn timeout. With it, the ceremony waits unseen (as if the
  // user ignored the browser's prompt) and the page stays usable.
  const watch = async (page) => {
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    page.cdp = cdp;
    page.on('console', (m) => {
      const where = m.location().url || page.url();
      if (m.type() === 'error' && ours(where)) consoleProblems.push(`${where}: ${m.text()}`);
    });
    page.on('response', (r) => { if (r.status() >= 400 && ours(r.url())) consoleProblems.push(`${r.request().method()} ${r.url()}: ${r.status()}`); });
    page.on('pageerror', (e) => consoleProblems.push(`${page.url()}: ${e.message}`));
  };

  const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // expectHostedPage waits for a hosted page of the title, styled.
  const expectHostedPage = async (page, title) => {
    await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
    assert.ok(page.url().startsWith(`${issuer}/`), `expected a hosted page, at ${page.url()}`);
    assert.match(await page.title(), new RegExp(`^${escapeRegExp(title)} · Acme Corp$`));
    const card = await page.locator('main.card').evaluate((m) => getComputedStyle(m).backgroundColor);
    assert.equal(card, 'rgb(255, 255, 255)', `${title}: the stylesheet did not apply`);
  };
  const alert = (page) => page.locator('p.error[role=alert]:not([hidden])');

  // signIn starts a sign-in at the RP and gets through the identifier and
  // password pages; it answers what the RP needs to check the response.
  const signIn = async (page, key, { password = USERS[key].password } = {}) => {
    const auth = { verifier: client.randomPKCECodeVerifier(), state: client.randomState(), nonce: client.randomNonce() };
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: callback, scope: 'openid profile email', state: auth.state, nonce: auth.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(auth.verifier), code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    await expectHostedPage(page, 'Sign in');
    await page.getByLabel('Username').fill(USERS[key].username);
    await page.getByRole('button', { name: 'Continue' }).click();
    await expectHostedPage(page, 'Enter your password');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    return auth;
  };
  // backAtRP waits for the browser to reach the RP and answers the ID
  // token's claims from the code.
  const backAtRP = async (page, auth) => {
    await page.waitForURL((u) => u.href.startsWith(callback));
    const tokens = await client.authorizationCodeGrant(config, new URL(page.url()),
      { pkceCodeVerifier: auth.verifier, expectedState: auth.state, expectedNonce: auth.nonce, idTokenExpected: true });
    return tokens.claims();
  };
  // submit clicks a form's button and answers the HTTP response to the
  // POST (before any redirect).
  const submit = async (page, button) => {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
      button.click(),
    ]);
    await page.waitForLoadState();
    return response;
  };
  const otherMethods = (page) => page.locator('p.others a').allInnerTexts();
  const useMethod = async (page, name, method) => {
    await page.locator('p.others').getByRole('link', { name, exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('method') === method);
  };
  // stubWebAuthn serves webauthn.js empty, so that a WebAuthn page stays
  // still for its screenshot; the returned function undoes it.
  const stubWebAuthn = async (page) => {
    const handler = (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: '' });
    await page.route('**/webauthn.js', handler);
    return () => page.unroute('**/webauthn.js', handler);
  };

  // ---- 1. TOTP.
  const tom = new Authenticator(null);
  let recoveryCodes = [], enrolStep;
  await step('TOTP: enrol an authenticator app at sign-in, keep the recovery codes, back at the RP (amr otp mfa)', async () => {
    const page = await newPage();
    const auth = await signIn(page, 'totp');
    await expectHostedPage(page, 'Set up a second factor');

    // WebAuthn comes first: this context has no authenticator, so its
    // ceremony does not finish; the user picks another method.
    assert.equal(await page.locator('form#webauthn').getAttribute('data-mode'), 'create');
    assert.deepEqual(await otherMethods(page), ['an authenticator app', 'a code by email']);
    await useMethod(page, 'an authenticator app', 'TOTP');
    await expectHostedPage(page, 'Set up a second factor');
    const qr = page.locator('img.qr');
    assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'the QR code image loaded');
    const keyText = (await page.locator('#totp-key').innerText()).trim();
    assert.match(keyText, /^[A-Z2-7]{4}( [A-Z2-7]{1,4})+$/, 'the key in groups of base32');
    tom.secret = base32Decode(keyText);
    assert.ok(tom.secret.length >= 16, `a key of ${tom.secret.length} bytes`);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'code', 'the code field has focus');
    assert.deepEqual(await otherMethods(page), ['a security key or passkey', 'a code by email']);
    await shoot(page, shots, 'mfa-01-enrol-totp');

    await page.getByLabel('Code').fill(tom.wrong());
    const wrong = await submit(page, page.getByRole('button', { name: 'Turn on' }));
    assert.equal(wrong.status(), 200);
    await alert(page).filter({ hasText: 'not right' }).waitFor();
    assert.equal((await page.locator('#totp-key').innerText()).trim(), keyText, 'the same key after a wrong code');
    await shoot(page, shots, 'mfa-02-enrol-totp-wrong');

    const code = await tom.next();
    enrolStep = tom.last;
    await page.getByLabel('Code').fill(code);
    await page.getByLabel('Name of this app').fill("Tom's phone");
    await page.getByRole('button', { name: 'Turn on' }).click();
    await expectHostedPage(page, 'Save your recovery codes');
    recoveryCodes = await page.locator('#recovery-codes li').allInnerTexts();
    assert.equal(recoveryCodes.length, 10, `ten recovery codes: ${recoveryCodes}`);
    assert.equal(new Set(recoveryCodes).size, 10, 'all different');
    for (const c of recoveryCodes) assert.match(c, /^[a-z0-9]+(-[a-z0-9]+)+$/, `recovery code ${c}`);
    await shoot(page, shots, 'mfa-03-recovery-codes');
    await page.getByRole('button', { name: 'I have saved them' }).click();
    const claims = await backAtRP(page, auth);
    assert.equal(claims.sub, users.totp.id);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);

    const st = await userMFA('totp');
    assert.equal(st.devices.length, 1, JSON.stringify(st));
    assert.deepEqual([st.devices[0].type, st.devices[0].name, st.devices[0].confirmed], ['TOTP', "Tom's phone", true]);
    assert.equal(st.recoveryCodesLeft, 10);
    await page.context().close();
  }, 'totp');

  await step('TOTP: the next sign-in asks for a code; the enrolment\'s code is refused as used, the next step\'s works', async (st) => {
    const page = await newPage();
    const auth = await signIn(page, 'totp');
    await expectHostedPage(page, 'Confirm it\'s you');
    await page.getByText('Open your authenticator app').waitFor();
    assert.equal(await page.locator('#totp-key').count(), 0, 'no key shown at sign-in');
    assert.deepEqual(await otherMethods(page), ['a recovery code']);
    await shoot(page, shots, 'mfa-04-totp');
    if (totpStep() <= enrolStep + 1) {
      await page.getByLabel('Code').fill(hotp(tom.secret, enrolStep));
      const replay = await submit(page, page.getByRole('button', { name: 'Continue' }));
      assert.equal(replay.status(), 200);
      await alert(page).filter({ hasText: 'already used' }).waitFor();
      await shoot(page, shots, 'mfa-05-totp-used');
    } else {
      st.diagnostic('the clock passed the enrolment code\'s window: its replay was not tried');
    }
    await page.getByLabel('Code').fill(await tom.next());
    await page.getByRole('button', { name: 'Continue' }).click();
    const claims = await backAtRP(page, auth);
    assert.equal(claims.sub, users.totp.id);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    await page.context().close();
  }, 'totp');

  // ---- 2. Recovery codes.
  await step('recovery code: signs in once (amr kba mfa); the same code again is "not right", another works', async () => {
    let page = await newPage();
    let auth = await signIn(page, 'totp');
    await expectHostedPage(page, 'Confirm it\'s you');
    await useMethod(page, 'a recovery code', 'RECOVERY_CODE');
    await page.getByText('Type one of the recovery codes you saved').waitFor();
    assert.deepEqual(await otherMethods(page), ['an authenticator app']);
    await shoot(page, shots, 'mfa-06-recovery-code');
    await page.getByLabel('Recovery code').fill(recoveryCodes[0]);
    await page.getByRole('button', { name: 'Continue' }).click();
    let claims = await backAtRP(page, auth);
    assert.deepEqual(claims.amr, ['pwd', 'kba', 'mfa']);
    await page.context().close();

    page = await newPage();
    auth = await signIn(page, 'totp');
    await expectHostedPage(page, 'Confirm it\'s you');
    await useMethod(page, 'a recovery code', 'RECOVERY_CODE');
    await page.getByLabel('Recovery code').fill(recoveryCodes[0]);
    const again = await submit(page, page.getByRole('button', { name: 'Continue' }));
    assert.equal(again.status(), 200);
    await alert(page).filter({ hasText: 'not right' }).waitFor();
    await shoot(page, shots, 'mfa-07-recovery-code-used');
    // Another code, typed as a person might: upper case, spaces for dashes.
    await page.getByLabel('Recovery code').fill(recoveryCodes[1].toUpperCase().replaceAll('-', ' '));
    await page.getByRole('button', { name: 'Continue' }).click();
    claims = await backAtRP(page, auth);
    assert.deepEqual(claims.amr, ['pwd', 'kba', 'mfa']);
    await page.context().close();
    const st = await userMFA('totp');
    assert.equal(st.recoveryCodesLeft, 8, JSON.stringify(st));
    assert.equal(st.failures ?? 0, 0, `a success clears the failures: ${JSON.stringify(st)}`);
  }, ['recovery', 'totp']);

  // ---- 3. Passkey.
  await step('passkey: register through the virtual authenticator at sign-in (amr hwk mfa), then sign in with it', async () => {
    const page = await newPage();
    const { cdp } = page;
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });

    let unstub = await stubWebAuthn(page);
    let auth = await signIn(page, 'passkey');
    await expectHostedPage(page, 'Set up a second factor');
    const form = page.locator('form#webauthn');
    assert.equal(await form.getAttribute('data-mode'), 'create');
    const options = JSON.parse(await form.getAttribute('data-options'));
    const creation = options.publicKey ?? options;
    assert.equal(creation.rp?.id, 'localhost', `the RP ID: ${JSON.stringify(creation.rp)}`);
    assert.equal(creation.user?.name, USERS.passkey.username);
    assert.equal(creation.authenticatorSelection?.userVerification, POLICY.userVerification, 'user verification per policy');
    await page.getByText('Register a security key or passkey').waitFor();
    assert.deepEqual(await otherMethods(page), ['an authenticator app', 'a code by email']);
    await shoot(page, shots, 'mfa-08-enrol-passkey');
    // With its script, enrolment waits for the button, so that the key can
    // be named first; the virtual authenticator answers and the form posts
    // itself.
    await unstub();
    await page.reload();
    await page.locator('#name').fill("Pat's laptop");
    await page.getByRole('button', { name: 'Register the key' }).click();
    await expectHostedPage(page, 'Save your recovery codes');
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    let { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1, 'one credential on the authenticator');
    assert.equal(credentials[0].rpId, 'localhost');
    assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential (passkey)');
    const countAfterCreate = credentials[0].signCount;
    await page.getByRole('button', { name: 'I have saved them' }).click();
    let claims = await backAtRP(page, auth);
    assert.equal(claims.sub, users.passkey.id);
    assert.deepEqual(claims.amr, ['pwd', 'hwk', 'mfa']);
    const st = await userMFA('passkey');
    assert.deepEqual(st.devices.map((d) => [d.type, d.name, d.confirmed]), [['WEBAUTHN', "Pat's laptop", true]], JSON.stringify(st));

    // A new sign-in in the same browser, with the same authenticator.
    await page.context().clearCookies();
    unstub = await stubWebAuthn(page);
    auth = await signIn(page, 'passkey');
    await expectHostedPage(page, 'Confirm it\'s you');
    assert.equal(await form.getAttribute('data-mode'), 'get');
    await page.getByText('Use your security key or passkey').waitFor();
    assert.deepEqual(await otherMethods(page), ['a recovery code']);
    await shoot(page, shots, 'mfa-09-passkey');
    await unstub();
    await page.reload();
    claims = await backAtRP(page, auth);
    assert.equal(claims.sub, users.passkey.id);
    assert.deepEqual(claims.amr, ['pwd', 'hwk', 'mfa']);
    ({ credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId }));
    assert.ok(credentials[0].signCount > countAfterCreate, `the sign counter moved: ${countAfterCreate} → ${credentials[0].signCount}`);
    await page.context().close();
  }, 'passkey');

  // ---- 4. Email codes.
  const codeIn = (message, digits) => {
    const m = message.Text.match(new RegExp(`\\b(\\d{${digits}})\\b`));
    assert.ok(m, `a ${digits}-digit code in: ${message.Text}`);
    return m[1];
  };
  const expectFrom = (message) => {
    assert.equal(message.From?.Address, FROM_ADDRESS, JSON.stringify(message.From));
    assert.equal(message.From?.Name, FROM_NAME);
  };
  await step('email code: enrol with a code read back from mailpit (a wrong one refused), amr otp mca mfa', async () => {
    const page = await newPage();
    const auth = await signIn(page, 'email');
    await expectHostedPage(page, 'Set up a second factor');
    await useMethod(page, 'a code by email', 'EMAIL');
    await expectHostedPage(page, 'Set up a second factor');
    await page.getByText(/We sent a six-digit code to e.*@acme\.example/).waitFor();
    assert.ok(!(await page.locator('main').innerText()).includes(USERS.email.username), 'the address is masked');
    const message = await mail.next(USERS.email.username);
    expectFrom(message);
    assert.equal(message.Subject, 'Your sign-in code');
    const code = codeIn(message, 6);
    await shoot(page, shots, 'mfa-10-enrol-email');
    await page.getByLabel('Code').fill(code === '000000' ? '111111' : '000000');
    const wrong = await submit(page, page.getByRole('button', { name: 'Turn on' }));
    assert.equal(wrong.status(), 200);
    await alert(page).filter({ hasText: 'not right' }).waitFor();
    await shoot(page, shots, 'mfa-11-enrol-email-wrong');
    await page.getByLabel('Code').fill(code);
    await page.getByRole('button', { name: 'Turn on' }).click();
    await expectHostedPage(page, 'Save your recovery codes');
    assert.equal(await page.locator('#recovery-codes li').count(), 10);
    // Opened again, the sign-in's page does not show the codes again.
    await page.goto(page.url());
    await expectHostedPage(page, 'Recovery codes');
    assert.equal(await page.locator('#recovery-codes').count(), 0, 'the codes are shown once');
    await page.getByText('Your recovery codes were shown when you set up your second factor').waitFor();
    await shoot(page, shots, 'mfa-12-recovery-codes-again');
    await page.getByRole('button', { name: 'Continue' }).click();
    const claims = await backAtRP(page, auth);
    assert.equal(claims.sub, users.email.id);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mca', 'mfa']);
    // The enrolment's code is spent: keep it for the next step.
    users.email.enrolCode = code;
    await page.context().close();
  }, 'email');

  await step('email code: a later sign-in emails a new code; the spent one is refused, the new one works', async () => {
    const page = await newPage();
    const auth = await signIn(page, 'email');
    await expectHostedPage(page, 'Confirm it\'s you');
    await page.getByText(/We sent a six-digit code to e.*@acme\.example/).waitFor();
    assert.deepEqual(await otherMethods(page), ['a recovery code']);
    const message = await mail.next(USERS.email.username);
    expectFrom(message);
    const code = codeIn(message, 6);
    await shoot(page, shots, 'mfa-13-email');
    // Another code at once is refused: one every half minute.
    const resend = await submit(page, page.getByRole('button', { name: 'Send another code' }));
    assert.equal(resend.status(), 200);
    await alert(page).filter({ hasText: 'wait half a minute' }).waitFor();
    await shoot(page, shots, 'mfa-14-email-resend-too-soon');
    if (code !== users.email.enrolCode) {
      await page.getByLabel('Code').fill(users.email.enrolCode);
      const stale = await submit(page, page.getByRole('button', { name: 'Continue' }));
      assert.equal(stale.status(), 200);
      await alert(page).filter({ hasText: 'not right' }).waitFor();
    }
    await page.getByLabel('Code').fill(code);
    await page.getByRole('button', { name: 'Continue' }).click();
    const claims = await backAtRP(page, auth);
    assert.equal(claims.sub, users.email.id);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mca', 'mfa']);
    await page.context().close();
  }, 'email');

  // ---- 5. The failure limit.
  await step('blocked: three wrong TOTP codes block the second factor (429); then the right code is refused too', async () => {
    const page = await newPage();
    await signIn(page, 'totp');
    await expectHostedPage(page, 'Confirm it\'s you');
    const loginURL = page.url();
    // A second tab of the same sign-in, still showing the code form.
    const tab = await page.context().newPage();
    await watch(tab);
    await tab.goto(loginURL);
    await expectHostedPage(tab, 'Confirm it\'s you');

    for (let i = 1; i <= 2; i++) {
      await page.getByLabel('Code').fill(tom.wrong());
      const r = await submit(page, page.getByRole('button', { name: 'Continue' }));
      assert.equal(r.status(), 200, `wrong code ${i}`);
      await alert(page).filter({ hasText: 'not right' }).waitFor();
    }
    await page.getByLabel('Code').fill(tom.wrong());
    const blocked = await submit(page, page.getByRole('button', { name: 'Continue' }));
    assert.equal(blocked.status(), 429, 'the third wrong code');
    await expectHostedPage(page, 'Confirm it\'s you');
    await page.getByText(/blocked/).first().waitFor();
    assert.equal(await page.locator('input[name=code]').count(), 0, 'the blocked page asks for no code');
    await shoot(page, shots, 'mfa-15-blocked');

    // The right code from the other tab: refused while blocked.
    const right = await tom.next();
    await tab.getByLabel('Code').fill(right);
    const refused = await submit(tab, tab.getByRole('button', { name: 'Continue' }));
    assert.equal(refused.status(), 429, 'the right code while blocked');
    await tab.getByText(/blocked/).first().waitFor();
    assert.ok(!tab.url().startsWith(callback));

    // A new sign-in is blocked at once after the password.
    await page.context().close();
    const fresh = await newPage();
    const blockedAtOnce = fresh.waitForResponse((r) => r.url().startsWith(`${issuer}/login/`) && r.request().method() === 'GET'
      && r.status() !== 200);
    await signIn(fresh, 'totp');
    assert.equal((await blockedAtOnce).status(), 429, 'a new sign-in while blocked');
    await fresh.getByText(/blocked until/).waitFor();
    await shoot(fresh, shots, 'mfa-16-blocked-new-sign-in');
    const st = await userMFA('totp');
    assert.ok(st.blockedUntil && Date.parse(st.blockedUntil) > Date.now() + 500_000, `blocked for about 600 s: ${JSON.stringify(st)}`);

    // An administrator unblocks; the code refused while blocked was never
    // used, and works now.
    expectStatus(await api('POST', `/users/${users.totp.id}/mfa/unblock`), 204);
    const auth = await signIn(fresh, 'totp');
    await expectHostedPage(fresh, 'Confirm it\'s you');
    await fresh.getByLabel('Code').fill(right);
    await fresh.getByRole('button', { name: 'Continue' }).click();
    const claims = await backAtRP(fresh, auth);
    assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
    await fresh.context().close();
  }, ['blocked', 'totp']);

  // ---- 6. Forgot password.
  await step('forgot password: a code by email (the same answer for nobody), a new password; the old one fails, the code works once', async () => {
    const page = await newPage();
    await signIn(page, 'reset', { password: 'not-the-password' });
    await alert(page).filter({ hasText: 'not right' }).waitFor();
    const forgot = page.locator('a#forgot');
    assert.equal((await forgot.innerText()).trim(), 'Forgot your password?');
    await forgot.click();
    await page.waitForURL((u) => u.pathname === `/${ENV}/reset`);
    const resetURL = page.url();
    await expectHostedPage(page, await page.getByRole('heading', { level: 1 }).innerText());
    assert.equal(await page.getByLabel('Username').inputValue(), USERS.reset.username, 'the username is filled in');
    await shoot(page, shots, 'reset-01-request');

    // Someone who does not exist gets the same page, and no email goes out.
    const other = await page.context().newPage();
    await watch(other);
    await other.goto(resetURL);
    await other.getByLabel('Username').fill('nobody@acme.example');
    const nobodyResponse = await submit(other, other.getByRole('button', { name: 'Email me a code' }));
    await other.getByText(/If nobody@acme\.example has an email address here, we sent a code/).waitFor();
    const nobodyText = (await other.locator('main').innerText()).replaceAll('nobody@acme.example', 'X');
    const nobodyStatus = nobodyResponse.status();
    await other.close();

    const sent = await submit(page, page.getByRole('button', { name: 'Email me a code' }));
    await page.getByText(`If ${USERS.reset.username} has an email address here, we sent a code`).waitFor();
    assert.equal(sent.status(), nobodyStatus, 'the same status for a user who does not exist');
    assert.equal((await page.locator('main').innerText()).replaceAll(USERS.reset.username, 'X'), nobodyText,
      'the same page for a user who does not exist');
    await shoot(page, shots, 'reset-02-code');
    const message = await mail.next(USERS.reset.username);
    expectFrom(message);
    assert.equal(message.Subject, 'Reset your password');
    const code = codeIn(message, 8);

    await page.locator('input[name=code]').fill(code);
    await page.locator('input[name=new]').fill(RESET_PASSWORD);
    await page.locator('input[name=confirm]').fill(RESET_PASSWORD);
    const done = await submit(page, page.locator('form button[type=submit]'));
    assert.ok(done.status() < 400, `the reset answered ${done.status()}`);
    await page.getByText(/password is changed/).waitFor();
    await shoot(page, shots, 'reset-03-done');
    const back = page.getByRole('link', { name: /sign.in/i });
    await back.click();
    await page.waitForURL((u) => u.href.startsWith(`${issuer}/login/`));
    await page.getByRole('heading', { level: 1, name: /^(Sign in|Enter your password)$/ }).waitFor();

    // The old password fails, the new one works (on to the second factor).
    await page.context().clearCookies();
    await signIn(page, 'reset');
    await alert(page).filter({ hasText: 'not right' }).waitFor();
    await page.getByLabel('Password', { exact: true }).fill(RESET_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectHostedPage(page, 'Set up a second factor');

    // The same code again, in a form like the one it was typed into (a new
    // page's CSRF token; no new code asked for): refused.
    await page.goto(resetURL);
    await page.getByRole('button', { name: 'Email me a code' }).waitFor();
    await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.request().isNavigationRequest()),
      page.evaluate((fields) => {
        const form = document.querySelector('form');
        for (const [name, value] of Object.entries(fields)) {
          const input = form.querySelector(`input[name=${name}]`) ?? form.appendChild(Object.assign(document.createElement('input'), { type: 'hidden', name }));
          input.value = value;
        }
        HTMLFormElement.prototype.submit.call(form);
      }, { action: 'reset', username: USERS.reset.username, code, new: 'Rita-Third-Pass-9012', confirm: 'Rita-Third-Pass-9012' }),
    ]);
    await alert(page).filter({ hasText: /not right|already used|expired/ }).waitFor();
    assert.equal(await page.getByText(/password is changed/).count(), 0, 'the used code changed the password again');
    await shoot(page, shots, 'reset-04-code-used');
    await page.context().clearCookies();
    await signIn(page, 'reset', { password: 'Rita-Third-Pass-9012' });
    await alert(page).filter({ hasText: 'not right' }).waitFor();
    await page.getByLabel('Password', { exact: true }).fill(RESET_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expectHostedPage(page, 'Set up a second factor');
    const nobodyMail = (await mail.list()).filter((m) => m.To?.some((a) => a.Address === 'nobody@acme.example'));
    assert.deepEqual(nobodyMail, [], 'no email to a user who does not exist');
    await page.context().close();
  }, 'reset');

  await step('no console errors or CSP violations on the hosted pages, beyond the expected 429s', async () => {
    assert.deepEqual(consoleProblems.filter((p) => !/ 429 \(Too Many Requests\)|: 429$/.test(p)), []);
  });
});
