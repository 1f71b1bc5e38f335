// Helpers shared by the interop tests (oidc.test.js, federation.test.js,
// peers.test.js) and the peer identity providers in peers/: running the
// gatehouse binary, free ports, the relying party's own endpoints, process
// lifetimes, throw-away certificates and screenshots.

import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
