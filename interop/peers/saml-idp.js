// A corporate SAML 2.0 identity provider for the federation interop test,
// built on samlify (with xmllint, compiled to WebAssembly, validating every
// message against the SAML schemas). It knows nothing of Gatehouse but the
// service provider's metadata, which it fetches from the SP's metadata URL
// at each sign-in.
//
//   import { start } from './peers/saml-idp.js';
//   const idp = await start({ port, spMetadataUrl, users: [{nameID, attributes: {email, givenName, sn}}] });
//   idp.metadataUrl; idp.entityId; await idp.close();
//
// or as a script: node peers/saml-idp.js CONFIG.json (the same options); it
// prints {"metadataUrl": …, "entityId": …} and runs until it is stopped.
//
// Endpoints (all on http://127.0.0.1:PORT):
//   GET  /metadata  the IdP's metadata: a signing certificate made at start,
//                   SingleSignOnService for HTTP-Redirect and HTTP-POST
//   GET  /sso       an AuthnRequest by HTTP-Redirect   } → the sign-in page
//   POST /sso       an AuthnRequest by HTTP-POST       }
//   POST /login     the sign-in form: a user of the list gets a page that
//                   posts a signed Response to the SP's ACS, with the
//                   request's RelayState; anyone else an error page
//
// The Response has what samlify's default template lacks: an
// AuthnStatement, and the checks an SP makes — Destination and
// SubjectConfirmationData Recipient (the ACS), InResponseTo (the request's
// ID), Conditions with NotBefore/NotOnOrAfter and AudienceRestriction (the
// SP's entity id). The Response is always signed; the Assertion too when the
// SP's metadata says WantAssertionsSigned. Nothing is encrypted.
//
// Options: spMetadataXml may stand for spMetadataUrl; wantAuthnRequestsSigned
// (default false) makes it verify request signatures with the SP's
// certificate; nameIDFormat defaults to emailAddress.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

import { escapeHTML, readBody, selfSignedCertificate } from '../lib.js';

const require = createRequire(import.meta.url);
const samlify = require('samlify');
samlify.setSchemaValidator(require('@authenio/samlify-node-xmllint'));

const { binding: BINDING } = samlify.Constants.namespace;
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const PENDING_TTL = 10 * 60_000;

const STYLE = `body{font-family:'Liberation Sans',Arial,sans-serif;background:#f3efe6;margin:0;padding:24px 12px;color:#222}
main{max-width:380px;margin:40px auto;background:#fff;border-left:6px solid #b5651d;padding:24px;box-shadow:0 1px 4px rgba(0,0,0,.2)}
h1{font-size:1.4em;margin:0 0 4px}p.sub{color:#666;margin:0 0 20px}label{display:block;margin:12px 0 4px}
input{box-sizing:border-box;width:100%;padding:8px;font-size:1em;border:1px solid #aaa}
button{margin-top:20px;width:100%;padding:10px;font-size:1em;background:#b5651d;color:#fff;border:0;cursor:pointer}
.error{background:#fde8e8;color:#8a1414;padding:8px}`;

function page(title, body) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHTML(title)} · Corp SAML</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

const x = escapeHTML; // XML attribute and text escaping is the same here
const newID = () => `_${randomBytes(20).toString('hex')}`;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

// responseXML is the whole SAML Response, before signing.
function responseXML({ id, assertionId, idpEntityId, spEntityId, acs, inResponseTo, nameID, nameIDFormat, attributes, sessionIndex }) {
  const now = Date.now();
  const attrs = Object.entries(attributes ?? {}).map(([name, value]) =>
    `<saml:Attribute Name="${x(name)}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:basic">${
      [].concat(value).map((v) => `<saml:AttributeValue xsi:type="xs:string">${x(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`).join('');
  const irt = inResponseTo ? ` InResponseTo="${x(inResponseTo)}"` : '';
  return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="${iso(now)}" Destination="${x(acs)}"${irt}>`
    + `<saml:Issuer>${x(idpEntityId)}</saml:Issuer>`
    + '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>'
    + `<saml:Assertion xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xs="http://www.w3.org/2001/XMLSchema" ID="${assertionId}" Version="2.0" IssueInstant="${iso(now)}">`
    + `<saml:Issuer>${x(idpEntityId)}</saml:Issuer>`
    + `<saml:Subject><saml:NameID Format="${x(nameIDFormat)}">${x(nameID)}</saml:NameID>`
    + `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${iso(now + 5 * 60_000)}" Recipient="${x(acs)}"${irt}/></saml:SubjectConfirmation></saml:Subject>`
    + `<saml:Conditions NotBefore="${iso(now - 30_000)}" NotOnOrAfter="${iso(now + 5 * 60_000)}"><saml:AudienceRestriction><saml:Audience>${x(spEntityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`
    + `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="${sessionIndex}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`
    + (attrs ? `<saml:AttributeStatement>${attrs}</saml:AttributeStatement>` : '')
    + '</saml:Assertion></samlp:Response>';
}

export async function start({ port, spMetadataUrl, spMetadataXml, users, wantAuthnRequestsSigned = false, nameIDFormat = EMAIL_FORMAT }) {
  if (!port) throw new Error('saml-idp: a port is required');
  if (!spMetadataUrl && !spMetadataXml) throw new Error('saml-idp: spMetadataUrl or spMetadataXml is required');
  const origin = `http://127.0.0.1:${port}`;
  const entityId = `${origin}/metadata`;
  const cert = await selfSignedCertificate('Corp SAML IdP');
  const idp = samlify.IdentityProvider({
    entityID: entityId,
    signingCert: cert.certPem,
    privateKey: cert.keyPem,
    wantAuthnRequestsSigned,
    isAssertionEncrypted: false,
    nameIDFormat: [nameIDFormat],
    singleSignOnService: [
      { Binding: BINDING.redirect, Location: `${origin}/sso` },
      { Binding: BINDING.post, Location: `${origin}/sso` },
    ],
  });
  const metadataXml = idp.getMetadata();
  const byName = new Map(users.map((u) => [String(u.nameID).toLowerCase(), u]));
  const pending = new Map(); // form id → {sp, parsed, relayState, expires}
  const idpRequests = [];

  // The SP as its metadata says now (fetched at each request).
  async function serviceProvider() {
    let xml = spMetadataXml;
    if (!xml) {
      const r = await fetch(spMetadataUrl, { signal: AbortSignal.timeout(10_000) });
      if (!r.ok) throw new Error(`GET ${spMetadataUrl}: ${r.status}`);
      xml = await r.text();
    }
    return { sp: samlify.ServiceProvider({ metadata: xml, wantMessageSigned: true }), xml };
  }

  // acsFor is the ACS to answer: the request's own when the metadata lists
  // it for HTTP-POST, else the metadata's HTTP-POST ACS.
  function acsFor(sp, request) {
    const listed = [].concat(sp.entityMeta.getAssertionConsumerService() ?? [])
      .filter((a) => a.binding === BINDING.post).map((a) => a.location);
    if (request.assertionConsumerServiceUrl && listed.includes(request.assertionConsumerServiceUrl)) return request.assertionConsumerServiceUrl;
    if (!listed.length) throw new Error('the SP metadata has no HTTP-POST AssertionConsumerService');
    return listed[0];
  }

  const send = (res, status, body, type = 'text/html; charset=utf-8') => {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
    res.end(body);
  };
  const errorPage = (res, status, message) => send(res, status, page('Sign-in failed',
    `<h1>Sign-in failed</h1><p class="error" role="alert">${escapeHTML(message)}</p>`));

  function loginForm(formId, spEntityId, error) {
    return page('Sign in', `<h1>Corp SAML sign-in</h1>
<p class="sub">To continue to ${escapeHTML(spEntityId)}</p>
${error ? `<p class="error" role="alert">${escapeHTML(error)}</p>` : ''}
<form method="post" action="/login" autocomplete="off">
<input type="hidden" name="form" value="${escapeHTML(formId)}">
<label for="username">Username</label><input id="username" name="username" required autofocus>
<label for="password">Password</label><input id="password" name="password" type="password">
<button type="submit">Sign in</button>
</form>`);
  }

  async function receiveRequest(res, bindingName, req) {
    const { sp } = await serviceProvider();
    let parsed;
    try {
      parsed = await idp.parseLoginRequest(sp, bindingName, req);
    } catch (e) {
      return errorPage(res, 400, `The AuthnRequest was refused: ${e?.message ?? e}`);
    }
    const request = parsed.extract.request ?? {};
    const formId = randomBytes(16).toString('hex');
    for (const [k, v] of pending) if (v.expires < Date.now()) pending.delete(k);
    pending.set(formId, { sp, parsed, relayState: req.relayState, expires: Date.now() + PENDING_TTL, issuer: parsed.extract.issuer });
    idpRequests.push({ binding: bindingName, id: request.id, issuer: parsed.extract.issuer, signed: Boolean(parsed.sigAlg) });
    return send(res, 200, loginForm(formId, parsed.extract.issuer ?? sp.entityMeta.getEntityID()));
  }

  async function login(res, form) {
    const p = pending.get(form.get('form') ?? '');
    if (!p) return errorPage(res, 400, 'This sign-in has expired or was already used. Start again from the application.');
    const user = byName.get((form.get('username') ?? '').trim().toLowerCase());
    if (!user) return errorPage(res, 403, 'Unknown user: this directory has no such account.');
    pending.delete(form.get('form'));
    const { sp, parsed, relayState } = p;
    const request = parsed.extract.request ?? {};
    const acs = acsFor(sp, request);
    const spEntityId = sp.entityMeta.getEntityID();
    const response = await idp.createLoginResponse(sp, parsed, 'post', {}, {
      relayState,
      customTagReplacement: () => {
        const id = newID();
        return {
          id,
          context: responseXML({ id, assertionId: newID(), idpEntityId: entityId, spEntityId, acs, inResponseTo: request.id,
            nameID: user.nameID, nameIDFormat, attributes: user.attributes, sessionIndex: newID() }),
        };
      },
    });
    const relay = relayState ? `<input type="hidden" name="RelayState" value="${escapeHTML(relayState)}">` : '';
    return send(res, 200, page('Signing in', `<h1>Signing you in…</h1>
<form method="post" action="${escapeHTML(acs)}">
<input type="hidden" name="SAMLResponse" value="${escapeHTML(response.context)}">${relay}
<noscript><p>Your browser does not run scripts: continue by hand.</p></noscript>
<button type="submit">Continue</button>
</form>
<script>document.forms[0].submit()</script>`));
  }

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, origin);
      if (req.method === 'GET' && url.pathname === '/metadata') {
        return send(res, 200, metadataXml, 'application/samlmetadata+xml');
      }
      if (url.pathname === '/sso' && req.method === 'GET') {
        // samlify's redirect flow decodes the parameters itself, and checks
        // a signature (when it wants one) over the query as it was sent.
        const raw = Object.fromEntries(url.search.slice(1).split('&').filter(Boolean).map((kv) => {
          const i = kv.indexOf('=');
          return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
        }));
        const octetString = ['SAMLRequest', 'RelayState', 'SigAlg'].filter((k) => k in raw).map((k) => `${k}=${raw[k]}`).join('&');
        return await receiveRequest(res, 'redirect', { query: raw, octetString, relayState: url.searchParams.get('RelayState') ?? undefined });
      }
      const body = ['POST'].includes(req.method) ? new URLSearchParams(await readBody(req) ?? '') : null;
      if (url.pathname === '/sso' && body) {
        return await receiveRequest(res, 'post', { body: Object.fromEntries(body), relayState: body.get('RelayState') ?? undefined });
      }
      if (url.pathname === '/login' && body) return await login(res, body);
      return send(res, 404, page('Not found', '<h1>Not found</h1>'));
    } catch (e) {
      if (!res.headersSent) errorPage(res, 500, e?.message ?? String(e));
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 1000;
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return {
    metadataUrl: `${origin}/metadata`,
    entityId,
    ssoUrl: `${origin}/sso`,
    metadataXml,
    certBase64: cert.certBase64,
    requests: idpRequests, // each AuthnRequest received: {binding, id, issuer, signed}
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
    console.error('usage: node peers/saml-idp.js CONFIG.json   ({port, spMetadataUrl, users})');
    process.exit(2);
  }
  const idp = await start(JSON.parse(await readFile(file, 'utf8')));
  console.log(JSON.stringify({ metadataUrl: idp.metadataUrl, entityId: idp.entityId }));
  const stop = async () => { await idp.close(); process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
