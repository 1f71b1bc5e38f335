// The admin console in a real browser (Debian's Chromium, driven by
// playwright-core). A new environment's administrator, given only the
// console URL and a temporary password, signs in through the environment's
// own sign-in (changing the password first), finds users by search, creates
// one, disables it, and opens every section of the console's menu. Then
// every workflow of the console, each a step:
//
// 1. identity providers: an OIDC IdP through the guided form, the redirect
//    URI to paste, a connection test that fails (unreachable issuer), a
//    discovery rule, a corporate user of that IdP;
// 2. applications: a web application whose secret is shown once (and
//    authenticates at the token endpoint), rotated (the old one stops
//    working), deleted after the confirmation;
// 3. policies: the STANDARD preset, a weak sample password's broken rules
//    (checked live as it is typed, by the vendored htmx),
//    MFA with TOTP only, reauthentication after some hours;
// 4. branding: colours, title and message, the preview, and the real
//    sign-in page;
// 5. a user's page: details, a role with a context, a password they must
//    change, an MFA bypass granted and ended, sessions ended, the activity
//    timeline;
// 6. the audit log: a search by action, the CSV export, the chain's
//    verification;
// 7. reports: monthly active users and the charts;
// 8. operators: the first operator (printed at the data directory's first
//    use) signs in at /console/system/ through the forced change, creates an
//    environment (whose administrator's temporary password works), disables,
//    enables and deletes it.
//
// Outcomes are checked in the page and, where it says more, through the
// management API with a client_credentials token of an ENVIRONMENT_ADMIN
// service application made by the CLI. Screenshots of each page state at
// desktop and phone widths go to INTEROP_SCREENSHOTS when set, else to the
// run's temp directory (removed after a pass).
//
// It builds nothing: GATEHOUSE_BIN names the gatehouse binary.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, rm, open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, DESKTOP, STEP_TIMEOUT, cli, freePort, shoot, stopProcess, waitReady } from './lib.js';

const ENV = 'acme';
const NEW_PASSWORD = 'Console-First-Pass-2026';
const OPERATOR_PASSWORD = 'Operator-First-Pass-2026';

// cliWithStderr runs the gatehouse binary like cli, and answers its JSON
// output and its stderr (where the first use of a data directory prints
// the system environment's first operator).
async function cliWithStderr(bin, args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000, killSignal: 'SIGKILL' });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  const [code, signal] = await once(child, 'close');
  if (code !== 0) throw new Error(`gatehouse ${args.join(' ')}: exit ${code ?? signal}\n${err}${out}`);
  return { json: JSON.parse(out), stderr: err };
}

test('an environment administrator runs the environment in the console', { timeout: 180_000 }, async (t) => {
  const bin = process.env.GATEHOUSE_BIN;
  assert.ok(bin, 'GATEHOUSE_BIN names the gatehouse binary');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-console-'));
  const dataDir = path.join(tmp, 'data');
  const logFile = path.join(tmp, 'gatehouse.log');
  const shots = process.env.INTEROP_SCREENSHOTS || path.join(tmp, 'screenshots');
  await mkdir(shots, { recursive: true });
  let gatehouse, browser;

  // Steps run in order. A failed setup step skips everything after it; a
  // workflow's failure skips only the later steps of its own group.
  const broken = new Set();
  let failures = 0;
  const step = (name, fn, group = 'setup') => {
    const failed = ['setup', group].find((g) => broken.has(g));
    return t.test(name, { skip: failed && `an earlier ${failed} step failed` }, async (st) => {
      try { await fn(st); } catch (e) { broken.add(group); failures++; throw e; }
    });
  };

  t.after(async () => {
    await browser?.close().catch(() => {});
    await stopProcess(gatehouse);
    if (!failures) {
      await rm(tmp, { recursive: true, force: true });
    } else {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      for (const line of log.trimEnd().split('\n').slice(-30)) t.diagnostic(`gatehouse.log: ${line}`);
      t.diagnostic(`kept for diagnosis: ${tmp}`);
    }
    if (process.env.INTEROP_SCREENSHOTS) t.diagnostic(`screenshots: ${shots}`);
  });

  const port = await freePort();
  const base = `http://localhost:${port}`;
  const store = ['--data-dir', dataDir, '--output', 'json'];
  let created, operator, adminApp;

  await step('acme, its shoppers and an admin service application (CLI), then gatehouse serve answers /readyz', async () => {
    // The first use of the data directory creates the system environment
    // and prints its first operator, once.
    const first = await cliWithStderr(bin, ['env', 'create', ENV, '--display-name', 'Acme Retail', ...store]);
    created = first.json;
    assert.equal(created.admin.username, 'admin');
    const m = first.stderr.match(/First operator: username "([^"]+)", temporary password "([^"]+)"/);
    assert.ok(m, `the first use prints the first operator: ${first.stderr}`);
    operator = { username: m[1], password: m[2] };
    for (let i = 1; i <= 30; i++) {
      await cli(bin, ['user', 'create', `shopper${String(i).padStart(2, '0')}@acme.example`, '--env', ENV, '--first-name', `Shopper${i}`,
        '--last-name', i % 2 ? 'Smith' : 'Jones', '--email', `shopper${i}@acme.example`, ...store]);
    }
    adminApp = await cli(bin, ['app', 'create', '--env', ENV, '--name', 'interop admin', '--type', 'service',
      '--role', 'ENVIRONMENT_ADMIN', ...store]);
    const log = await open(logFile, 'w');
    gatehouse = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--base-url', base, '--data-dir', dataDir], { stdio: ['ignore', log.fd, log.fd] });
    await log.close();
    await waitReady(base, gatehouse, logFile);
  });

  // ---- The token endpoint and the management API.
  // tokenByClientCredentials answers the token endpoint's status and body
  // for a client_credentials request with HTTP Basic client authentication.
  const tokenByClientCredentials = async (clientId, secret) => {
    const r = await fetch(`${base}/${ENV}/oauth2/token`, {
      method: 'POST', signal: AbortSignal.timeout(10_000),
      headers: {
        Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    const text = await r.text();
    let body;
    try { body = JSON.parse(text); } catch { body = text; }
    return { status: r.status, body, what: `token for ${clientId} → ${r.status} ${text.slice(0, 300)}` };
  };
  let token;
  const api = async (method, pathname, body) => {
    token ??= await (async () => {
      const res = await tokenByClientCredentials(adminApp.clientId, adminApp.clientSecret);
      assert.equal(res.status, 200, res.what);
      return res.body.access_token;
    })();
    const r = await fetch(`${base}/api/v1/environments/${ENV}${pathname}`, {
      method, signal: AbortSignal.timeout(10_000),
      headers: { Authorization: `Bearer ${token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
    return { status: r.status, body: json, what: `${method} ${pathname} → ${r.status} ${text.slice(0, 600)}` };
  };
  const apiGet = async (pathname) => {
    const res = await api('GET', pathname);
    assert.equal(res.status, 200, res.what);
    return res.body;
  };
  const items = (body) => body?.items ?? body;

  // ---- The browser.
  const errors = [];
  const newPage = async () => {
    browser ??= await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
    const context = await browser.newContext({ viewport: DESKTOP });
    context.setDefaultTimeout(STEP_TIMEOUT);
    context.setDefaultNavigationTimeout(STEP_TIMEOUT);
    const p = await context.newPage();
    p.on('console', (m) => { if (m.type() === 'error') errors.push(`${p.url()}: ${m.text()}`); });
    return p;
  };
  // noConsoleErrors checks that no page logged an error since the last
  // check (CSP violations would show here).
  const noConsoleErrors = () => {
    const seen = errors.splice(0);
    assert.deepEqual(seen, [], 'no console errors (CSP violations would show here)');
  };
  const notice = (p) => p.locator('main p.notice[role=status]').first();
  const alert = (p) => p.locator('main [role=alert]').first();
  // field is the text of a definition list's value by its term.
  const field = (p, term) => p.locator('dl.fields dt').filter({ hasText: new RegExp(`^${term}$`) }).first().locator('xpath=following-sibling::dd[1]');
  const c = (pathname) => `${base}/console/${ENV}/${pathname}`;
  let page;

  // ---- The first administrator's first day (the console's first part).
  await step('the first sign-in at /console/acme/ goes through the forced password change', async () => {
    page = await newPage();
    // Only the console URL and the temporary password.
    await page.goto(`${base}/console/${ENV}/`);
    await page.fill('input[name=username]', 'admin');
    await page.click('button[type=submit]');
    await page.fill('input[name=password]', created.admin.temporaryPassword);
    await page.click('form:has(#password) button[type=submit]');
    await page.getByRole('heading', { name: 'Change your password' }).waitFor();
    await page.fill('input[name=current]', created.admin.temporaryPassword);
    await page.fill('input[name=new]', NEW_PASSWORD);
    await page.fill('input[name=confirm]', NEW_PASSWORD);
    await page.click('form:has(input[name=confirm]) button[type=submit]');
    await page.waitForURL(`${base}/console/${ENV}/users`);
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    await shoot(page, shots, 'console-01-users');
  });

  await step('users: search by last name, 10 a page, then the next page; create a local user and disable it', async () => {
    await page.fill('#q', 'Smith');
    await page.selectOption('#field', 'lastName');
    await page.selectOption('#limit', '10');
    await page.click('form[role=search] button[type=submit]');
    await page.waitForURL(/lastName/);
    assert.equal(await page.locator('table.list tbody tr').count(), 10);
    await page.click('a[rel=next]');
    await page.waitForURL(/cursor=/);
    assert.equal(await page.locator('table.list tbody tr').count(), 5, '15 Smiths: 10, then 5');

    await page.goto(c('users/new'));
    await shoot(page, shots, 'console-02-new-user');
    await page.fill('#username', 'store.manager@acme.example');
    await page.fill('#firstName', 'Store');
    await page.fill('#lastName', 'Manager');
    await page.fill('#password', 'Initial-Store-Pass-1');
    await page.click('form.stack button[type=submit]');
    await page.getByText('The user is created.').waitFor();
    assert.match(await page.locator('dl.fields').innerText(), /MUST_CHANGE_PASSWORD/);
    await shoot(page, shots, 'console-03-user');
    await page.click('button:has-text("Disable")');
    await page.getByText('The user is disabled').waitFor();
  });

  await step('every section of the menu opens for this administrator', async () => {
    const sections = await page.locator('header nav a').evaluateAll((as) => as.map((a) => [a.textContent.trim(), a.getAttribute('href')]));
    assert.ok(sections.length >= 1, 'the menu lists sections');
    for (const [i, [title, href]] of sections.entries()) {
      const res = await page.goto(base + href);
      assert.equal(res.status(), 200, `${title} answers 200`);
      await page.locator('main h1').waitFor();
      await shoot(page, shots, `console-1${i}-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`);
    }
    noConsoleErrors();
  });

  // ---- 1. Identity providers and discovery rules.
  const IDP = { id: 'corp-okta', name: 'Corp Okta', issuer: 'https://login.corp.example', clientId: 'gatehouse-acme', secret: 'corp-okta-client-secret-1' };
  const CORPORATE = 'jane.doe@corp.example';
  await step('identity providers: add an OIDC IdP through the guided form and see the redirect URI to paste', async () => {
    await page.goto(c('identity-providers'));
    await page.getByRole('link', { name: 'Add an identity provider' }).click();
    await page.getByRole('heading', { name: 'Add an identity provider' }).waitFor();
    await shoot(page, shots, 'console-20-idp-new');
    await page.fill('#name', IDP.name);
    await page.fill('#id', IDP.id);
    await page.fill('#issuer', IDP.issuer);
    await page.fill('#clientId', IDP.clientId);
    await page.fill('#clientSecret', IDP.secret);
    await page.getByRole('button', { name: 'Add identity provider' }).click();
    await page.waitForURL(c(`identity-providers/${IDP.id}?done=created`));
    assert.match(await notice(page).innerText(), /The identity provider is added/);
    const redirect = (await field(page, 'Redirect URI').innerText()).trim();
    const got = await apiGet(`/identity-providers/${IDP.id}`);
    assert.equal(redirect, got.endpoints.redirectUri, 'the page shows the redirect URI the API gives');
    assert.ok(redirect.startsWith(`${base}/${ENV}/`), `the redirect URI is this environment's: ${redirect}`);
    // Okta, Entra ID and Google each get it, in their own words.
    for (const vendor of ['Okta', 'Microsoft Entra ID', 'Google']) {
      const section = page.locator('.vendors section', { has: page.getByRole('heading', { name: vendor, exact: true }) });
      assert.match(await section.innerText(), new RegExp(redirect.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), `${vendor}: the redirect URI`);
    }
    assert.equal(got.type, 'OIDC');
    assert.equal(got.oidc.issuer, IDP.issuer);
    assert.equal(got.oidc.clientId, IDP.clientId);
    assert.ok(!JSON.stringify(got).includes(IDP.secret), 'the API never shows the client secret');
    assert.ok(!(await page.content()).includes(IDP.secret), 'the page never shows the client secret');
    await shoot(page, shots, 'console-21-idp');
  }, 'idps');

  await step('identity providers: "Test connection" shows that the issuer cannot be reached', async () => {
    await page.getByRole('button', { name: 'Test connection' }).click();
    await alert(page).waitFor();
    const text = await alert(page).innerText();
    assert.match(text, /The connection test failed/);
    assert.match(text, /login\.corp\.example/, `the problem names the issuer: ${text}`);
    await shoot(page, shots, 'console-22-idp-test-failed');
  }, 'idps');

  await step('identity providers: a discovery rule sends @corp.example to the IdP', async () => {
    await page.goto(c('identity-providers'));
    await page.check('input[name=match][value=domain]');
    await page.fill('#rule-value', 'corp.example');
    await page.selectOption('#rule-idp', IDP.id);
    await page.getByRole('button', { name: 'Add rule' }).click();
    await page.waitForURL(/done=rule-added/);
    assert.match(await notice(page).innerText(), /The discovery rule is added/);
    const rows = page.locator('table.rules tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), /@corp\.example[\s\S]*Corp Okta/);
    const rules = items(await apiGet('/discovery-rules'));
    assert.equal(rules.length, 1, JSON.stringify(rules));
    assert.equal(rules[0].emailDomain, 'corp.example');
    assert.equal(rules[0].identityProviderId, IDP.id);
    await shoot(page, shots, 'console-23-idps-rules');
  }, 'idps');

  await step('identity providers: a corporate user of that IdP from the new-user form', async () => {
    await page.goto(c('users/new'));
    await page.check('input[name=kind][value=corporate]');
    await page.fill('#username', CORPORATE);
    await page.fill('#firstName', 'Jane');
    await page.fill('#lastName', 'Doe');
    await page.fill('#email', CORPORATE);
    await page.selectOption('#identityProvider', IDP.id);
    await shoot(page, shots, 'console-24-new-corporate-user');
    await page.getByRole('button', { name: 'Create user' }).click();
    await page.getByText('The user is created.').waitFor();
    assert.match(await page.locator('.summary').innerText(), new RegExp(`Signs in at identity provider ${IDP.id}`));
    assert.match(await page.locator('section[aria-labelledby=password-h]').innerText(), /corporate user/);
    const id = page.url().match(/users\/([^/?]+)/)[1];
    const u = await apiGet(`/users/${id}`);
    assert.equal(u.username, CORPORATE);
    assert.equal(u.identityProvider, IDP.id);
    assert.equal(u.passwordState, 'EXTERNAL', 'a corporate user\'s password is the IdP\'s');
    await shoot(page, shots, 'console-25-corporate-user');
    noConsoleErrors();
  }, 'idps');

  // ---- 2. Applications.
  const APP = { name: 'Acme shop', redirect: 'https://shop.acme.example/callback' };
  let app = {};
  // authenticates reports whether a client id and secret authenticate at
  // the token endpoint: a web application may not use client_credentials,
  // so a good secret gets unauthorized_client (the client is known) and a
  // bad one invalid_client.
  const authenticates = async (clientId, secret) => {
    const res = await tokenByClientCredentials(clientId, secret);
    if (res.status === 401 || res.body?.error === 'invalid_client') return false;
    assert.equal(res.body?.error, 'unauthorized_client', res.what);
    return true;
  };
  await step('applications: create a web application with a redirect URI; its secret is shown once and works', async () => {
    await page.goto(c('applications'));
    await page.getByRole('link', { name: 'New application' }).click();
    await page.getByRole('heading', { name: 'New application' }).waitFor();
    await shoot(page, shots, 'console-26-app-kind');
    await page.check('input[name=type][value=web]');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'New web application' }).waitFor();
    await page.fill('#name', APP.name);
    await page.fill('#redirectUris', APP.redirect);
    await shoot(page, shots, 'console-27-app-new');
    await page.getByRole('button', { name: 'Create application' }).click();
    await page.getByRole('heading', { name: 'Client secret' }).waitFor();
    assert.match(await notice(page).innerText(), /The application is created/);
    app.secret = await page.inputValue('#client-secret');
    assert.ok(app.secret.length >= 20, `a client secret: ${app.secret}`);
    app.clientId = (await field(page, 'Client ID').innerText()).trim();
    app.id = (await page.getByRole('link', { name: 'I have stored it' }).getAttribute('href')).split('/').pop();
    assert.match(await field(page, 'Redirect URIs').innerText(), new RegExp(APP.redirect.replace(/[.]/g, '\\.')));
    await shoot(page, shots, 'console-28-app-secret-once');

    const got = await apiGet(`/applications/${app.id}`);
    assert.equal(got.clientId, app.clientId);
    assert.equal(got.type, 'web');
    assert.deepEqual(got.redirectUris, [APP.redirect]);
    assert.ok(await authenticates(app.clientId, app.secret), 'the secret shown authenticates the application');
    assert.ok(!(await authenticates(app.clientId, app.secret + 'x')), 'another secret does not');

    // Once stored, the page never shows it again.
    await page.getByRole('link', { name: 'I have stored it' }).click();
    await page.waitForURL(c(`applications/${app.id}`));
    assert.equal(await page.locator('#client-secret').count(), 0);
    assert.ok(!(await page.content()).includes(app.secret), 'the application page does not show the secret again');
    assert.match(await field(page, 'Client secret').innerText(), /shown only when created or rotated/);
  }, 'apps');

  await step('applications: rotate the secret; the new one works and the old one no longer does', async () => {
    await page.goto(c(`applications/${app.id}`));
    await page.getByRole('button', { name: 'Rotate the secret' }).click();
    await page.getByRole('heading', { name: 'Client secret' }).waitFor();
    assert.match(await notice(page).innerText(), /The secret is replaced/);
    const rotated = await page.inputValue('#client-secret');
    assert.notEqual(rotated, app.secret);
    await shoot(page, shots, 'console-29-app-rotated');
    assert.ok(await authenticates(app.clientId, rotated), 'the rotated secret authenticates');
    assert.ok(!(await authenticates(app.clientId, app.secret)), 'the old secret no longer does');
    app.secret = rotated;
  }, 'apps');

  await step('applications: delete with the confirmation', async () => {
    await page.goto(c(`applications/${app.id}`));
    // Without the tick the browser does not send the form.
    await page.getByRole('button', { name: 'Delete application' }).click();
    assert.equal(page.url(), c(`applications/${app.id}`));
    assert.equal(await page.locator('input[name=confirmDelete]').evaluate((el) => el.validity.valueMissing), true);
    await page.check('input[name=confirmDelete]');
    await page.getByRole('button', { name: 'Delete application' }).click();
    await page.waitForURL(c('applications?done=deleted'));
    assert.match(await notice(page).innerText(), /The application is deleted/);
    assert.equal(await page.locator('table.apps tbody tr', { hasText: APP.name }).count(), 0);
    const gone = await api('GET', `/applications/${app.id}`);
    assert.equal(gone.status, 404, gone.what);
    assert.ok(!(await authenticates(app.clientId, app.secret)), 'a deleted application does not authenticate');
    await shoot(page, shots, 'console-30-app-deleted');
    noConsoleErrors();
  }, 'apps');

  // ---- 3. Policies.
  await step('policies: apply the STANDARD preset; a weak sample password breaks its rules as it is typed', async () => {
    // This step's script errors and CSP violations (Chromium logs each
    // refused script, style or request as a console message), htmx's
    // included: its indicator <style> would be one.
    const problems = [];
    const onConsole = (m) => {
      if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console ${m.type()}: ${m.text()}`);
    };
    const onPageError = (e) => problems.push(`pageerror: ${e.message}`);
    page.on('console', onConsole);
    page.on('pageerror', onPageError);
    try {
      await page.goto(c('policies'));
      await page.selectOption('#preset', 'STANDARD');
      await page.getByRole('button', { name: 'Apply preset' }).click();
      await page.waitForURL(/done=preset/);
      assert.match(await notice(page).innerText(), /preset's rules are now the password policy/);
      assert.match(await page.locator('#password').innerText(), /STANDARD\s*preset/);
      const pw = await apiGet('/password-policy');
      assert.equal(pw.preset, 'STANDARD');
      assert.equal(await page.inputValue('#pw-minLength'), String(pw.minLength));
      await shoot(page, shots, 'console-31-policies-standard');

      // htmx 2 is loaded and read its settings from the layout's meta.
      const htmx = await page.evaluate(() => ({ version: window.htmx?.version, indicatorStyles: window.htmx?.config.includeIndicatorStyles,
        styles: document.querySelectorAll('style').length }));
      assert.match(String(htmx.version), /^2\./, 'htmx 2 is loaded');
      assert.deepEqual([htmx.indicatorStyles, htmx.styles], [false, 0], 'htmx adds no <style> of its own');

      // Typed, not sent: htmx checks the sample after a pause and swaps in
      // the result alone, while the page stays where it is.
      const at = page.url();
      const result = page.locator('#check-result[aria-live=polite] .check-result');
      const weak = 'wksmpl';
      const sent = page.waitForRequest((r) => r.url() === c('policies/password/check') && r.method() === 'POST' && r.headers()['hx-request'] === 'true');
      await page.locator('#sample').pressSequentially(weak, { delay: 40 });
      const request = await sent;
      assert.match(request.postData() ?? '', /(^|&)csrf=[^&]+/, 'the live check sends the form\'s CSRF token');
      await result.waitFor();
      assert.equal(page.url(), at, 'the live check does not leave the page');
      assert.match(await result.innerText(), /The sample breaks \d+ rules of the policy/);
      const broken = await result.locator('li').allInnerTexts();
      assert.ok(broken.length >= 3, `several rules broken: ${broken.join(' | ')}`);
      assert.ok(broken.some((b) => /^Minimum length/.test(b)), `the length rule: ${broken.join(' | ')}`);
      assert.ok(broken.some((b) => /^Uppercase letters/.test(b)), `the uppercase rule: ${broken.join(' | ')}`);
      assert.ok(broken.some((b) => /^Digits/.test(b)), `the digits rule: ${broken.join(' | ')}`);
      await shoot(page, shots, 'console-32-policies-check');

      const good = 'Str0ng-Enough-Pass';
      await page.fill('#sample', good);
      await page.locator('#check-result').getByText('The sample meets the policy.').waitFor();
      assert.equal(await page.locator('#check-result li').count(), 0);
      await shoot(page, shots, 'console-32b-policies-check-good');

      // Cleared: no result at all.
      await page.fill('#sample', '');
      await page.locator('#check-result .check-result').waitFor({ state: 'detached' });
      assert.equal(page.url(), at);

      // The samples are in no page and in no line of the log.
      const html = await page.content();
      const log = await readFile(logFile, 'utf8');
      for (const s of [weak, good]) {
        assert.ok(!html.includes(s), `the page does not show the sample ${s}`);
        assert.ok(!log.includes(s), `the log does not hold the sample ${s}`);
      }
    } finally {
      page.off('console', onConsole);
      page.off('pageerror', onPageError);
    }
    assert.deepEqual(problems, [], 'no script error or CSP violation on the policies page');

    // A stale form token (as after signing in again in another tab) is
    // refused, and htmx opens the whole page again rather than leave the
    // last result showing as if it were this sample's.
    await page.locator('#sample').pressSequentially('wksmpl', { delay: 40 });
    await page.locator('#check-result .check-result').waitFor();
    await page.locator('#check input[name=csrf]').evaluate((el) => { el.value = 'stale'; });
    const reopened = page.waitForURL(c('policies'));
    await page.locator('#sample').pressSequentially('Q1!', { delay: 40 });
    await reopened;
    await page.locator('#sample').waitFor();
    assert.equal(await page.locator('#check-result .check-result').count(), 0, 'no result after the refusal');
    // Chromium logs the refused request itself; nothing else.
    const refused = errors.splice(0);
    assert.ok(refused.every((e) => /status of 403/.test(e)), `only the refused request is logged: ${refused.join(' | ')}`);
  }, 'policies');

  await step('policies: MFA on with the authenticator app only; sign in again after 12 hours', async () => {
    await page.goto(c('policies'));
    await page.check('#mfa-enabled');
    for (const box of await page.locator('input[name=allowedMethods]').all()) {
      if (await box.getAttribute('value') === 'TOTP') await box.check(); else await box.uncheck();
    }
    await page.getByRole('button', { name: 'Save MFA policy' }).click();
    await page.waitForURL(/done=mfa/);
    assert.match(await notice(page).innerText(), /The MFA policy is saved/);
    assert.ok(await page.isChecked('#mfa-enabled'));
    assert.ok(await page.isChecked('input[name=allowedMethods][value=TOTP]'));
    assert.ok(!(await page.isChecked('input[name=allowedMethods][value=WEBAUTHN]')));
    const mfa = await apiGet('/mfa-policy');
    assert.equal(mfa.enabled, true);
    assert.deepEqual(mfa.allowedMethods, ['TOTP']);

    await page.fill('#reauthenticateAfterHours', '12');
    await page.getByRole('button', { name: 'Save sign-on policy' }).click();
    await page.waitForURL(/done=sign-on/);
    assert.match(await notice(page).innerText(), /The sign-on policy is saved/);
    assert.equal(await page.inputValue('#reauthenticateAfterHours'), '12');
    assert.equal((await apiGet('/sign-on-policy')).reauthenticateAfterHours, 12);
    await shoot(page, shots, 'console-33-policies-saved');
    noConsoleErrors();
  }, 'policies');

  // ---- 4. Branding.
  const BRAND = { primary: '#0b7a43', background: '#fdf3e1', title: 'Welcome to Acme Retail', message: 'Staff and partners sign in here with their Acme account.' };
  await step('branding: colours, title and message; the preview shows them', async () => {
    await page.goto(c('branding'));
    await page.fill('#primaryColor', BRAND.primary);
    await page.fill('#backgroundColor', BRAND.background);
    await page.fill('#signInTitle', BRAND.title);
    await page.fill('#signInMessage', BRAND.message);
    await page.getByRole('button', { name: 'Save branding' }).click();
    await page.waitForURL(/done=branding/);
    assert.match(await notice(page).innerText(), /The branding is saved/);
    assert.equal((await page.locator('.bp-title').innerText()).trim(), BRAND.title);
    assert.equal((await page.locator('.bp-message').innerText()).trim(), BRAND.message);
    const colours = await page.evaluate(() => ({
      button: getComputedStyle(document.querySelector('.bp-button')).backgroundColor,
      page: getComputedStyle(document.querySelector('.bp-page')).backgroundColor,
    }));
    assert.equal(colours.button, 'rgb(11, 122, 67)', 'the preview\'s button has the primary colour');
    assert.equal(colours.page, 'rgb(253, 243, 225)', 'the preview\'s page has the background colour');
    const b = await apiGet('/branding');
    assert.equal(b.primaryColor.toLowerCase(), BRAND.primary);
    assert.equal(b.backgroundColor.toLowerCase(), BRAND.background);
    assert.equal(b.signInTitle, BRAND.title);
    assert.equal(b.signInMessage, BRAND.message);
    await shoot(page, shots, 'console-34-branding');
    noConsoleErrors();
  }, 'branding');

  await step('branding: the real sign-in page of the environment shows the title and message', async () => {
    const fresh = await newPage();
    try {
      await fresh.goto(`${base}/console/${ENV}/`);
      await fresh.waitForURL(new RegExp(`/${ENV}/login/`));
      assert.equal((await fresh.locator('h1').innerText()).trim(), BRAND.title);
      assert.match(await fresh.locator('main, body').first().innerText(), new RegExp(BRAND.message.replace(/[.]/g, '\\.')));
      await shoot(fresh, shots, 'console-35-sign-in-branded');
      noConsoleErrors();
    } finally {
      await fresh.context().close();
    }
  }, 'branding');

  // ---- 5. A user's page.
  let shopper;
  await step('user detail: edit the first name, add a role with a context, set a password they must change', async () => {
    await page.goto(c('users'));
    await page.fill('#q', 'shopper07@acme.example');
    await page.click('form[role=search] button[type=submit]');
    await page.waitForURL(/q=shopper07/);
    await page.getByRole('link', { name: 'shopper07@acme.example' }).click();
    await page.getByRole('heading', { name: 'shopper07@acme.example' }).waitFor();
    shopper = page.url().match(/users\/([^/?]+)/)[1];

    await page.locator('details.edit summary').click();
    await page.fill('#firstName', 'Septima');
    await page.getByRole('button', { name: 'Save details' }).click();
    await page.waitForURL(/done=saved/);
    assert.match(await notice(page).innerText(), /The changes are saved/);
    assert.match(await field(page, 'Name').innerText(), /Septima Smith/);

    await page.selectOption('#role', 'STORE_ASSISTANT');
    await page.fill('#contextType', 'LOCATION');
    await page.fill('#contextId', 'store-042');
    await page.getByRole('button', { name: 'Add role' }).click();
    await page.waitForURL(/done=role-added/);
    assert.match(await notice(page).innerText(), /The role is added/);
    assert.match(await page.locator('section[aria-labelledby=roles-h] tbody').innerText(), /STORE_ASSISTANT\s+LOCATION store-042/);

    await page.fill('section[aria-labelledby=password-h] #password', 'Shopper-Temp-Pass-2026!');
    await page.check('input[name=forceChange]');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.waitForURL(/done=password-set/);
    assert.match(await notice(page).innerText(), /The password is set/);
    assert.match(await page.locator('.summary').innerText(), /Must change password/);

    const u = await apiGet(`/users/${shopper}`);
    assert.equal(u.firstName, 'Septima');
    assert.deepEqual(u.roles, [{ role: 'STORE_ASSISTANT', context: { type: 'LOCATION', id: 'store-042' } }]);
    assert.equal(u.passwordState, 'MUST_CHANGE_PASSWORD');
    await shoot(page, shots, 'console-36-user-edited');
  }, 'user');

  await step('user detail: grant an MFA bypass for 1 day, end it, end the sessions; the timeline lists the changes', async () => {
    await page.goto(c(`users/${shopper}`));
    await page.selectOption('#bypass', '1d');
    await page.getByRole('button', { name: 'Grant a bypass' }).click();
    await page.waitForURL(/done=bypass-set/);
    assert.match(await notice(page).innerText(), /without a second factor until the time shown/);
    assert.match(await page.locator('section[aria-labelledby=mfa-h]').innerText(), /Bypass signs in without a second factor until/);
    const until = Date.parse((await apiGet(`/users/${shopper}/mfa`)).bypassUntil);
    assert.ok(Math.abs(until - (Date.now() + 24 * 3600_000)) < 5 * 60_000, `the bypass lasts a day: ${new Date(until).toISOString()}`);
    await shoot(page, shots, 'console-37-user-bypass');

    await page.getByRole('button', { name: 'End the bypass' }).click();
    await page.waitForURL(/done=bypass-ended/);
    assert.match(await notice(page).innerText(), /The bypass has ended/);
    assert.equal((await apiGet(`/users/${shopper}/mfa`)).bypassUntil, undefined);
    assert.equal(await page.getByRole('button', { name: 'Grant a bypass' }).count(), 1);

    await page.getByRole('button', { name: 'End all sessions' }).click();
    await page.waitForURL(/done=sessions-ended/);
    assert.match(await notice(page).innerText(), /Every session of the user has ended/);

    const timeline = await page.locator('table.activity tbody tr').allInnerTexts();
    const has = (re, what) => assert.ok(timeline.some((row) => re.test(row)), `the timeline lists ${what}:\n${timeline.join('\n')}`);
    has(/Details changed: firstName/, 'the first name change');
    has(/Roles set to STORE_ASSISTANT in LOCATION store-042/, 'the role with its context');
    has(/Password set by an administrator/, 'the password set');
    has(/Second factor bypass granted until/, 'the bypass');
    has(/Second factor bypass ended/, 'the end of the bypass');
    has(/Signed out everywhere by an administrator/, 'the sessions ended');
    // The column of who did it names the administrator, with a link to them.
    assert.ok(timeline.filter((row) => /\tadmin\t/.test(row)).length >= 6, `each change names the administrator:\n${timeline.join('\n')}`);
    assert.ok(await page.locator('table.activity tbody a', { hasText: /^admin$/ }).count() >= 6, 'the administrator is a link');
    await shoot(page, shots, 'console-38-user-timeline');
    noConsoleErrors();
  }, 'user');

  // ---- 6. The audit log.
  await step('audit log: filter by action, export CSV, verify the chain', async () => {
    await page.goto(c('audit'));
    await page.fill('#action', 'USER_CREATED');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/action=USER_CREATED/);
    const rows = page.locator('table.audit tbody tr');
    const n = await rows.count();
    assert.ok(n >= 32, `the 30 shoppers, the store manager and the corporate user are found: ${n}`);
    for (const row of await rows.allInnerTexts()) assert.match(row, /USER_\s*CREATED/, `only that action: ${row}`);
    const corporate = rows.filter({ hasText: CORPORATE });
    assert.equal(await corporate.count(), 1, 'the corporate user, by username');
    assert.match(await corporate.innerText(), /Success[\s\S]*admin/, 'created by the administrator, by username');
    await shoot(page, shots, 'console-39-audit-filtered');

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]);
    assert.match(download.suggestedFilename(), new RegExp(`^audit-${ENV}-\\d{8}-\\d{6}\\.csv$`));
    const csv = (await readFile(await download.path(), 'utf8')).trimEnd().split(/\r?\n/);
    assert.equal(csv[0], 'seq,time,actorType,actorId,action,targetType,targetId,outcome,clientIp,userAgent,details,id,prevHash,hash');
    assert.equal(csv.length - 1, n, 'the export has the search\'s events');
    const corporateId = (await corporate.getByRole('link', { name: CORPORATE }).getAttribute('href')).split('/').pop();
    const line = csv.find((l) => l.includes(`,${corporateId},`));
    assert.ok(line, `the corporate user's creation is exported:\n${csv.slice(0, 3).join('\n')}`);
    const cells = line.split(',');
    assert.equal(cells[2], 'USER');
    assert.equal(cells[4], 'USER_CREATED');
    assert.equal(cells[5], 'USER');
    assert.equal(cells[7], 'SUCCESS');
    assert.match(cells[1], /^\d{4}-\d\d-\d\dT/);

    await page.getByRole('link', { name: 'Verify the whole log now' }).click();
    await page.waitForURL(/verify=1/);
    const verified = page.locator('section.chain [role=status]');
    await verified.waitFor();
    assert.match(await verified.innerText(), /Verified: the chain of \d+ events is intact/);
    await shoot(page, shots, 'console-40-audit-verified');
    noConsoleErrors();
  }, 'audit');

  // ---- 7. Reports.
  await step('reports: monthly active users count the administrator; the charts load', async () => {
    await page.goto(c('reports'));
    const current = Number(await page.locator('.report-cards .card').first().locator('strong').innerText());
    assert.ok(current >= 1, `active users this month: ${current}`);
    const month = new Date().toLocaleString('en-GB', { month: 'long', year: 'numeric', timeZone: 'UTC' });
    const row = page.locator('table.report').first().locator('tbody tr', { hasText: month });
    assert.equal(Number(await row.locator('td.num').innerText()), current, `the table's ${month}`);
    await page.waitForFunction(() => [...document.querySelectorAll('figure.chart img')].every((i) => i.complete), null, { timeout: STEP_TIMEOUT });
    const charts = await page.locator('figure.chart img').evaluateAll((imgs) => imgs.map((i) => [i.getAttribute('src'), i.naturalWidth]));
    assert.equal(charts.length, 2);
    for (const [src, width] of charts) assert.ok(width > 0, `the chart ${src} loads`);
    const [download] = await Promise.all([page.waitForEvent('download'),
      page.locator('section[aria-labelledby=mau-title]').getByRole('link', { name: 'Export CSV' }).click()]);
    const csv = (await readFile(await download.path(), 'utf8')).trimEnd().split(/\r?\n/);
    assert.equal(csv[0], 'month,monthlyActiveUsers');
    assert.equal(csv.at(-1), `${new Date().toISOString().slice(0, 7)},${current}`, 'the export ends with this month');
    await shoot(page, shots, 'console-41-reports');
    noConsoleErrors();
  }, 'reports');

  // ---- 8. Operators.
  const OTHER = { id: 'globex', name: 'Globex Corporation', admin: 'it-admin' };
  const discovery = async (env) => (await fetch(`${base}/${env}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(10_000) })).status;
  let ops;
  await step('operators: the first operator signs in at /console/system/ through the forced change', async () => {
    ops = await newPage();
    await ops.goto(`${base}/console/system/`);
    await ops.fill('input[name=username]', operator.username);
    await ops.click('button[type=submit]');
    await ops.fill('input[name=password]', operator.password);
    await ops.click('form:has(#password) button[type=submit]');
    await ops.getByRole('heading', { name: 'Change your password' }).waitFor();
    await ops.fill('input[name=current]', operator.password);
    await ops.fill('input[name=new]', OPERATOR_PASSWORD);
    await ops.fill('input[name=confirm]', OPERATOR_PASSWORD);
    await ops.click('form:has(input[name=confirm]) button[type=submit]');
    await ops.waitForURL(`${base}/console/system/users`);
    await ops.getByRole('link', { name: 'Environments' }).click();
    await ops.getByRole('heading', { name: 'Environments' }).waitFor();
    const ids = await ops.locator('table.environments tbody td:first-child').allInnerTexts();
    assert.ok(ids.includes(ENV) && ids.includes('system'), `the environments: ${ids}`);
    await shoot(ops, shots, 'console-42-environments');
  }, 'operators');

  let otherAdmin;
  await step('operators: create an environment; its first administrator\'s temporary password works', async () => {
    await ops.getByRole('link', { name: 'New environment' }).click();
    await ops.fill('#id', OTHER.id);
    await ops.fill('#displayName', OTHER.name);
    await ops.fill('#adminUsername', OTHER.admin);
    await shoot(ops, shots, 'console-43-environment-new');
    await ops.getByRole('button', { name: 'Create environment' }).click();
    await ops.getByRole('heading', { name: 'Environment created' }).waitFor();
    assert.match(await notice(ops).innerText(), new RegExp(`The environment ${OTHER.id} is ready`));
    assert.equal((await field(ops, 'Username').innerText()).trim(), OTHER.admin);
    assert.equal((await field(ops, 'Console address').innerText()).trim(), `${base}/console/${OTHER.id}/`);
    otherAdmin = (await ops.locator('code.secret').innerText()).trim();
    assert.ok(otherAdmin.length >= 12, `a temporary password: ${otherAdmin}`);
    await shoot(ops, shots, 'console-44-environment-created');
    assert.equal(await discovery(OTHER.id), 200);

    const admin = await newPage();
    try {
      await admin.goto(`${base}/console/${OTHER.id}/`);
      await admin.fill('input[name=username]', OTHER.admin);
      await admin.click('button[type=submit]');
      await admin.fill('input[name=password]', otherAdmin);
      await admin.click('form:has(#password) button[type=submit]');
      await admin.getByRole('heading', { name: 'Change your password' }).waitFor();
    } finally {
      await admin.context().close();
    }
  }, 'operators');

  await step('operators: disable the environment, then enable it', async () => {
    await ops.getByRole('link', { name: 'Done' }).click();
    await ops.getByRole('heading', { name: 'Environments' }).waitFor();
    const row = ops.locator('table.environments tbody tr', { has: ops.locator(`code:text-is("${OTHER.id}")`) });
    assert.match(await row.innerText(), /Globex Corporation\s+Active/);
    await ops.getByRole('button', { name: `Disable ${OTHER.id}` }).click();
    await ops.waitForURL(/done=disabled/);
    assert.match(await notice(ops).innerText(), new RegExp(`The environment ${OTHER.id} is disabled`));
    assert.match(await row.innerText(), /Disabled/);
    assert.equal(await discovery(OTHER.id), 404, 'a disabled environment answers not found');
    await shoot(ops, shots, 'console-45-environment-disabled');

    await ops.getByRole('button', { name: `Enable ${OTHER.id}` }).click();
    await ops.waitForURL(/done=enabled/);
    assert.match(await notice(ops).innerText(), new RegExp(`The environment ${OTHER.id} is enabled again`));
    assert.match(await row.innerText(), /Active/);
    assert.equal(await discovery(OTHER.id), 200);
  }, 'operators');

  await step('operators: delete the environment with the typed confirmation', async () => {
    await ops.getByRole('link', { name: `Delete ${OTHER.id}` }).click();
    await ops.getByRole('heading', { name: `Delete ${OTHER.id}` }).waitFor();
    await shoot(ops, shots, 'console-46-environment-delete');
    await ops.fill('#confirmID', 'globe');
    await ops.getByRole('button', { name: 'Delete this environment' }).click();
    await alert(ops).waitFor();
    assert.match(await alert(ops).innerText(), new RegExp(`Type the environment id, ${OTHER.id}, exactly`));
    assert.equal(await discovery(OTHER.id), 200, 'a wrong confirmation deletes nothing');
    await ops.fill('#confirmID', OTHER.id);
    await ops.getByRole('button', { name: 'Delete this environment' }).click();
    await ops.waitForURL(/done=deleted/);
    assert.match(await notice(ops).innerText(), new RegExp(`The environment ${OTHER.id} is deleted`));
    assert.equal(await ops.locator(`table.environments code:text-is("${OTHER.id}")`).count(), 0);
    assert.equal(await discovery(OTHER.id), 404);
    await shoot(ops, shots, 'console-47-environment-deleted');
    // The wrong confirmation's 400 page is the only expected error.
    const seen = errors.splice(0).filter((e) => !/environments\/globex\/delete: Failed to load resource: .* 400/.test(e));
    assert.deepEqual(seen, [], 'no other console errors');
  }, 'operators');

  // ---- Last: sign-out ends the console session.
  await step('sign-out ends the console session', async () => {
    await page.goto(c('users'));
    await page.click('form.who button[type=submit]');
    await page.goto(c('users'));
    assert.match(page.url(), /\/acme\/login\//, 'after sign-out the console asks for a sign-in');
  });
});
