// Helpers shared by the interop tests (oidc.test.js, federation.test.js,
// peers.test.js, mfa.test.js) and the peer identity providers in peers/:
// running the gatehouse binary, free ports, the relying party's own
// endpoints, process lifetimes, throw-away certificates, screenshots, TOTP
// codes and mailpit.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const STEP_TIMEOUT = 15_000; // any one browser action, navigation or wait

// cli runs the gatehouse binary with args, stdin as given, and returns its
// parsed JSON output (or its text with json false).
export async function cli(bin, args, { input, json = true } = {}) {
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 30_000, killSignal: 'SIGKILL' });
  let out = '', err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  child.stdin.end(input ?? '');
  const [code, signal] = await once(child, 'close');
  if (code !== 0) throw new Error(`gatehouse ${args.join(' ')}: exit ${code ?? signal}\n${err}${out}`);
  return json ? JSON.parse(out) : out;
}

export async function freePort() {
  const srv = net.createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

// withTimeout bounds a promise that has no timeout of its own.
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  })]).finally(() => clearTimeout(timer));
}

// readBody reads a request's body, at most limit bytes (null past it).
export async function readBody(req, limit = 256 << 10) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) return null;
  }
  return body;
}

// startRP runs the relying party's own HTTP endpoints: the redirect URI and
// the post-logout redirect URI. Each request ({method, url, body}) is
// recorded, and a waiter can ask for the next one on a path. routes maps a
// path to a handler (record, res) that answers instead of the default page.
export async function startRP({ routes = {} } = {}) {
  const seen = [];
  const waiters = [];
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    const body = await readBody(req, 64 << 10);
    if (body === null) { res.writeHead(413).end(); return; }
    const record = { method: req.method, url, body };
    seen.push(record);
    for (const w of waiters.filter((w) => w.path === url.pathname)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(record);
    }
    if (Object.hasOwn(routes, url.pathname)) return routes[url.pathname](record, res);
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(`<!doctype html><title>RP ${url.pathname}</title><h1>Relying party: ${url.pathname}</h1>`);
  });
  server.keepAliveTimeout = 1000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const origin = `http://127.0.0.1:${server.address().port}`;
  return {
    origin, seen, server,
    next(pathname) {
      return withTimeout(new Promise((resolve) => waiters.push({ path: pathname, resolve })), STEP_TIMEOUT,
        `the browser reaching the RP at ${pathname}`);
    },
    close() { server.closeAllConnections(); server.close(); },
  };
}

export async function waitReady(base, gatehouse, logFile) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (gatehouse.exitCode !== null) throw new Error(`gatehouse serve exited with ${gatehouse.exitCode}; see ${logFile}`);
    try {
      const r = await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error(`gatehouse did not answer /readyz within 20 s; see ${logFile}`);
    await sleep(100);
  }
}

export async function stopProcess(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const exited = once(child, 'exit');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

// selfSignedCertificate makes a throw-away RSA key and self-signed
// certificate with Debian's openssl, for a peer IdP's signing key. It
// answers the PEM key and certificate, and the certificate's base64 DER
// (what SAML metadata carries in ds:X509Certificate).
export async function selfSignedCertificate(commonName) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-cert-'));
  try {
    const key = path.join(dir, 'key.pem'), cert = path.join(dir, 'cert.pem');
    await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
      '-subj', `/CN=${commonName}`, '-keyout', key, '-out', cert], { timeout: 30_000 });
    const [keyPem, certPem] = await Promise.all([readFile(key, 'utf8'), readFile(cert, 'utf8')]);
    return { keyPem, certPem, certBase64: pemBody(certPem) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// pemBody is a PEM block's base64 on one line.
export function pemBody(pem) {
  return pem.replace(/-----(BEGIN|END)[^-]+-----/g, '').replace(/\s+/g, '');
}

export function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

// shoot takes a page at desktop and phone widths into dir as
// NAME-desktop.png and NAME-phone.png. With noSidewaysScroll it also checks
// that the phone width needs no sideways scrolling (our own pages; a peer's
// page is not ours to judge).
export async function shoot(page, dir, name, { noSidewaysScroll = true } = {}) {
  await page.screenshot({ path: path.join(dir, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: path.join(dir, `${name}-phone.png`), fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await page.setViewportSize(DESKTOP);
  if (noSidewaysScroll) assert.ok(overflow <= 0, `${name} page scrolls sideways by ${overflow}px at ${PHONE.width}px`);
}

// decodeJWT answers a compact JWS's payload, unverified.
export function decodeJWT(jwt) {
  const parts = String(jwt).split('.');
  assert.equal(parts.length, 3, 'a compact JWS');
  return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
}

// ---- Second factors: TOTP codes (RFC 6238) and mail read back from mailpit.

// base32Decode decodes RFC 4648 base32 as authenticator apps take it:
// case, spaces and padding do not matter.
export function base32Decode(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const clean = String(text).toUpperCase().replace(/[\s=]/g, '');
  let bits = 0, value = 0;
  const out = [];
  for (const c of clean) {
    const i = alphabet.indexOf(c);
    if (i < 0) throw new Error(`not base32: ${JSON.stringify(text)}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export const TOTP_PERIOD = 30;

// totpStep is the RFC 6238 time step of a moment (ms since the epoch).
export function totpStep(ms = Date.now()) {
  return Math.floor(ms / 1000 / TOTP_PERIOD);
}

// hotp is the RFC 4226 code of a counter: HMAC-SHA-1, dynamic truncation,
// six digits (what Gatehouse's authenticator-app keys use).
export function hotp(secret, counter, digits = 6) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 10 ** digits;
  return String(n).padStart(digits, '0');
}

// Authenticator is an authenticator app holding one key: next() answers a
// code of a time step later than any it gave before (a step is accepted
// once), waiting for the clock when the server's ±1 step would not
// accept it yet.
export class Authenticator {
  constructor(secret) {
    this.secret = secret;
    this.last = -Infinity;
  }

  async next() {
    let now = totpStep();
    const step = Math.max(this.last + 1, now);
    while (step > now + 1) {
      await sleep(((now + 1) * TOTP_PERIOD * 1000) - Date.now() + 50);
      now = totpStep();
    }
    this.last = step;
    return hotp(this.secret, step);
  }

  // wrong is a code that no step around now accepts.
  wrong() {
    const now = totpStep();
    const valid = new Set([-1, 0, 1, 2].map((d) => hotp(this.secret, now + d)));
    for (let n = 123456; ; n = (n + 7919) % 1_000_000) {
      const c = String(n).padStart(6, '0');
      if (!valid.has(c)) return c;
    }
  }
}

// mailpitBinary runs scripts/ensure-mailpit.sh (quick when the pinned
// mailpit is already installed) and answers the binary's path; MAILPIT
// overrides.
export async function mailpitBinary() {
  if (process.env.MAILPIT) return process.env.MAILPIT;
  const script = new URL('../scripts/ensure-mailpit.sh', import.meta.url);
  const { stdout } = await promisify(execFile)('bash', [script.pathname], { timeout: 300_000 });
  return stdout.trim().split('\n').pop();
}

// startMailpit runs mailpit on free loopback ports with its database in
// dir. It answers smtpURL for Gatehouse's smtp-url, and next(to), which
// waits for a message to that address that next() has not answered before
// and answers it as mailpit's API gives it (From, To, Subject, Text, …).
export async function startMailpit(dir, logFile) {
  const bin = await mailpitBinary();
  const smtpPort = await freePort(), httpPort = await freePort();
  const log = logFile ? await open(logFile, 'w') : null;
  const child = spawn(bin, ['--disable-version-check', '--smtp', `127.0.0.1:${smtpPort}`, '--listen', `127.0.0.1:${httpPort}`,
    '--database', path.join(dir, 'mailpit.db')], { stdio: ['ignore', log?.fd ?? 'ignore', log?.fd ?? 'ignore'] });
  await log?.close();
  const api = `http://127.0.0.1:${httpPort}`;
  const getJSON = async (pathname) => {
    const r = await fetch(api + pathname, { signal: AbortSignal.timeout(5000) });
    if (!r.ok) throw new Error(`mailpit GET ${pathname}: ${r.status} ${await r.text()}`);
    return r.json();
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mailpit exited with ${child.exitCode}${logFile ? `; see ${logFile}` : ''}`);
    try {
      const r = await fetch(`${api}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (r.ok) {
        const s = net.connect(smtpPort, '127.0.0.1');
        await once(s, 'connect');
        s.destroy();
        break;
      }
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) throw new Error('mailpit did not answer within 20 s');
    await sleep(100);
  }
  const seen = new Set();
  return {
    api, child, smtpURL: `smtp://127.0.0.1:${smtpPort}`,
    // list is the newest messages, newest first.
    async list() {
      return (await getJSON('/api/v1/messages?limit=100')).messages ?? [];
    },
    async next(to, { timeout = STEP_TIMEOUT } = {}) {
      const until = Date.now() + timeout;
      for (;;) {
        const fresh = (await this.list()).filter((m) => !seen.has(m.ID)
          && m.To?.some((a) => a.Address.toLowerCase() === to.toLowerCase()));
        if (fresh.length > 0) {
          for (const m of fresh) seen.add(m.ID);
          return getJSON(`/api/v1/message/${encodeURIComponent(fresh[0].ID)}`);
        }
        if (Date.now() > until) {
          const all = (await this.list()).map((m) => `to ${m.To?.map((a) => a.Address).join(',')} "${m.Subject}"`);
          throw new Error(`no new message to ${to} within ${timeout} ms; mailpit has: ${all.join('; ') || 'nothing'}`);
        }
        await sleep(100);
      }
    },
    close: () => stopProcess(child),
  };
}
