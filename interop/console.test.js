// The admin console in a real browser: a new environment's administrator,
// given only the console URL and a temporary password, signs in through
// the environment's own sign-in (changing the password first), finds users
// by search, creates one, disables it, and opens every section of the
// console's menu. Screenshots of each console page at desktop and phone
// widths go to INTEROP_SCREENSHOTS when set, else to the run's temp
// directory (removed after a pass).
//
// It builds nothing: GATEHOUSE_BIN names the gatehouse binary.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, rm, open, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { chromium } from 'playwright-core';

import { CHROMIUM, CHROMIUM_ARGS, DESKTOP, STEP_TIMEOUT, cli, freePort, shoot, stopProcess, waitReady } from './lib.js';

const ENV = 'acme';
const NEW_PASSWORD = 'Console-First-Pass-2026';

test('an environment administrator runs the environment in the console', { timeout: 180_000 }, async (t) => {
  const bin = process.env.GATEHOUSE_BIN;
  assert.ok(bin, 'GATEHOUSE_BIN names the gatehouse binary');
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-console-'));
  const dataDir = path.join(tmp, 'data');
  const logFile = path.join(tmp, 'gatehouse.log');
  const shots = process.env.INTEROP_SCREENSHOTS || path.join(tmp, 'screenshots');
  await mkdir(shots, { recursive: true });
  let gatehouse, browser, passed = false;
  t.after(async () => {
    await browser?.close().catch(() => {});
    await stopProcess(gatehouse);
    if (passed) {
      await rm(tmp, { recursive: true, force: true });
    } else {
      const log = await readFile(logFile, 'utf8').catch(() => '');
      for (const line of log.trimEnd().split('\n').slice(-30)) t.diagnostic(`gatehouse.log: ${line}`);
      t.diagnostic(`kept for diagnosis: ${tmp}`);
    }
  });

  const port = await freePort();
  const base = `http://localhost:${port}`;
  const store = ['--data-dir', dataDir, '--output', 'json'];
  const created = await cli(bin, ['env', 'create', ENV, '--display-name', 'Acme Retail', ...store]);
  assert.equal(created.admin.username, 'admin');
  for (let i = 1; i <= 30; i++) {
    await cli(bin, ['user', 'create', `shopper${String(i).padStart(2, '0')}@acme.example`, '--env', ENV, '--first-name', `Shopper${i}`,
      '--last-name', i % 2 ? 'Smith' : 'Jones', '--email', `shopper${i}@acme.example`, ...store]);
  }
  const log = await open(logFile, 'w');
  gatehouse = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--base-url', base, '--data-dir', dataDir], { stdio: ['ignore', log.fd, log.fd] });
  await log.close();
  await waitReady(base, gatehouse, logFile);

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

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

  // Search: last name Smith, 10 per page, then the next page.
  await page.fill('#q', 'Smith');
  await page.selectOption('#field', 'lastName');
  await page.selectOption('#limit', '10');
  await page.click('form[role=search] button[type=submit]');
  await page.waitForURL(/lastName/);
  assert.equal(await page.locator('table.list tbody tr').count(), 10);
  await page.click('a[rel=next]');
  await page.waitForURL(/cursor=/);
  assert.equal(await page.locator('table.list tbody tr').count(), 5, '15 Smiths: 10, then 5');

  // Create a local user; then disable it.
  await page.goto(`${base}/console/${ENV}/users/new`);
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

  // Every section of the menu opens, for this administrator.
  const sections = await page.locator('header nav a').evaluateAll((as) => as.map((a) => [a.textContent.trim(), a.getAttribute('href')]));
  assert.ok(sections.length >= 1, 'the menu lists sections');
  for (const [i, [title, href]] of sections.entries()) {
    const res = await page.goto(base + href);
    assert.equal(res.status(), 200, `${title} answers 200`);
    await page.locator('main h1').waitFor();
    await shoot(page, shots, `console-1${i}-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`);
  }
  assert.deepEqual(errors, [], 'no console errors (CSP violations would show here)');

  // Sign out ends the console session.
  await page.goto(`${base}/console/${ENV}/users`);
  await page.click('form.who button[type=submit]');
  await page.goto(`${base}/console/${ENV}/users`);
  assert.match(page.url(), /\/acme\/login\//, 'after sign-out the console asks for a sign-in');
  passed = true;
});
