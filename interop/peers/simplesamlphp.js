// A second, independent corporate SAML 2.0 identity provider for the
// federation interop test: Debian's SimpleSAMLphp 1.19 (scripts/
// ensure-simplesamlphp.sh installs it), run by PHP's built-in web server on
// a private configuration written to a temporary directory:
//
//   config/config.php        baseurlpath http://127.0.0.1:PORT/, the SAML 2.0 IdP on,
//                            plain-http session cookies, logs and state in the temp dir
//   config/authsources.php   an exampleauth:UserPass source with the given users
//   metadata/saml20-idp-hosted.php   signs Responses and Assertions (RSA-SHA256)
//                            with a key and certificate made by openssl at start
//   metadata/saml20-sp-remote.php    the SP: parsed from its metadata (fetched
//                            from spMetadataUrl at start, so SimpleSAMLphp has
//                            its ACS and its signing certificate), or built from
//                            spEntityId and acsUrl; NameID in the emailAddress
//                            format from the `email` attribute; nothing encrypted
//
//   import { start } from './peers/simplesamlphp.js';
//   const idp = await start({ port, spMetadataUrl, users: [{username, password, attributes: {email, givenName, sn}}] });
//   idp.metadataUrl; idp.entityId; await idp.close();
//
// or as a script: node peers/simplesamlphp.js CONFIG.json (the same options).
//
// Options: spEntityId and acsUrl (and spCertBase64) when there is no
// spMetadataUrl; validateAuthnRequests (default: true when the SP's
// metadata has a signing certificate) makes SimpleSAMLphp require and verify
// signed AuthnRequests; nameIdAttribute (default 'email'); keep keeps the
// temp directory (config, logs; made in parentDir, default the system's
// temp directory) on close, as does close({keep: true}). The
// login page is SimpleSAMLphp's own (core/loginuserpass: username,
// password, its "Login" button).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { access, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

import { selfSignedCertificate } from '../lib.js';

export const SSP_WWW = '/usr/share/simplesamlphp/www';
const EMAIL_FORMAT = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

// php renders a JSON-able value as a PHP literal (json_decode of a quoted
// string keeps every character as it is).
const php = (value) => `json_decode(${phpString(JSON.stringify(value))}, true)`;
const phpString = (s) => `'${String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export async function start({ port, spMetadataUrl, spEntityId, acsUrl, spCertBase64, users, validateAuthnRequests,
  nameIdAttribute = 'email', keep = false, parentDir = os.tmpdir() }) {
  if (!port) throw new Error('simplesamlphp: a port is required');
  await access(path.join(SSP_WWW, 'saml2/idp/metadata.php')).catch(() => {
    throw new Error(`SimpleSAMLphp is not installed at ${SSP_WWW}: run scripts/ensure-simplesamlphp.sh`);
  });
  const origin = `http://127.0.0.1:${port}`;
  const entityId = `${origin}/saml2/idp/metadata.php`;
  const dir = await mkdtemp(path.join(parentDir, 'gatehouse-simplesamlphp-'));
  const d = (...p) => path.join(dir, ...p);
  for (const sub of ['config', 'metadata', 'cert', 'data', 'tmp', 'log', 'sessions']) await mkdir(d(sub));

  const cert = await selfSignedCertificate('Corp SimpleSAMLphp IdP');
  await writeFile(d('cert', 'idp.key'), cert.keyPem, { mode: 0o600 });
  await writeFile(d('cert', 'idp.crt'), cert.certPem);

  await writeFile(d('config', 'config.php'), `<?php
$config = [
    'baseurlpath' => ${phpString(origin + '/')},
    'certdir' => ${phpString(d('cert') + '/')},
    'loggingdir' => ${phpString(d('log') + '/')},
    'datadir' => ${phpString(d('data') + '/')},
    'tempdir' => ${phpString(d('tmp'))},
    'metadatadir' => ${phpString(d('metadata') + '/')},
    'technicalcontact_name' => 'Gatehouse interop',
    'technicalcontact_email' => 'interop@example.org',
    'timezone' => 'UTC',
    'secretsalt' => ${phpString(randomBytes(24).toString('hex'))},
    'auth.adminpassword' => ${phpString(randomBytes(12).toString('hex'))},
    'admin.protectindexpage' => false,
    'admin.protectmetadata' => false,
    'showerrors' => true,
    'errorreporting' => false,
    'logging.level' => SimpleSAML\\Logger::INFO,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'debug' => ['saml' => false, 'backtraces' => true, 'validatexml' => false],
    'enable.saml20-idp' => true,
    'enable.shib13-idp' => false,
    'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true, 'admin' => true],
    'session.cookie.secure' => false,
    'session.cookie.samesite' => 'Lax',
    'session.phpsession.savepath' => ${phpString(d('sessions'))},
    'language.cookie.secure' => false,
    'language.cookie.samesite' => 'Lax',
    'store.type' => 'phpsession',
    'metadata.sources' => [['type' => 'flatfile']],
    'metadata.sign.enable' => false,
];
`);

  const userPass = { 0: 'exampleauth:UserPass' };
  for (const u of users) {
    const attrs = Object.fromEntries(Object.entries(u.attributes ?? {}).map(([k, v]) => [k, [].concat(v).map(String)]));
    userPass[`${u.username}:${u.password ?? 'password'}`] = { uid: [u.username], ...attrs };
  }
  await writeFile(d('config', 'authsources.php'), `<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'corp-userpass' => ${php(userPass)},
];
`);

  // The SP: SimpleSAMLphp's own metadata parser reads its XML (entity id,
  // ACS, signing certificate); these settings go on top.
  let spXml = null;
  if (spMetadataUrl) {
    const r = await fetch(spMetadataUrl, { signal: AbortSignal.timeout(10_000) });
    if (!r.ok) throw new Error(`GET ${spMetadataUrl}: ${r.status} ${await r.text()}`);
    spXml = await r.text();
    await writeFile(d('metadata', 'sp.xml'), spXml);
  }
  const spHasCert = spXml ? /<(\w+:)?X509Certificate>/.test(spXml) : Boolean(spCertBase64);
  const validate = validateAuthnRequests ?? spHasCert;
  await writeFile(d('metadata', 'saml20-idp-hosted.php'), `<?php
$metadata[${phpString(entityId)}] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'corp-userpass',
    'NameIDFormat' => ${phpString(EMAIL_FORMAT)},
    'simplesaml.nameidattribute' => ${phpString(nameIdAttribute)},
    'saml20.sign.response' => true,
    'saml20.sign.assertion' => true,
    'assertion.encryption' => false,
    // Also says WantAuthnRequestsSigned in the IdP's metadata.
    'validate.authnrequest' => ${validate ? 'true' : 'false'},
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
];
`);

  const overrides = {
    NameIDFormat: EMAIL_FORMAT,
    'simplesaml.nameidattribute': nameIdAttribute,
    'validate.authnrequest': validate,
    'saml20.sign.response': true,
    'saml20.sign.assertion': true,
    'assertion.encryption': false,
    'nameid.encryption': false,
  };
  await writeFile(d('metadata', 'saml20-sp-remote.php'), spXml ? `<?php
$overrides = ${php(overrides)};
$parsed = \\SimpleSAML\\Metadata\\SAMLParser::parseDescriptorsString(file_get_contents(__DIR__ . '/sp.xml'));
foreach ($parsed as $entityId => $entity) {
    $sp = $entity->getMetadata20SP();
    if ($sp !== null) {
        $metadata[$entityId] = array_merge($sp, $overrides);
    }
}
` : `<?php
$metadata[${phpString(spEntityId)}] = array_merge(${php({
    AssertionConsumerService: [{ Binding: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', Location: acsUrl, index: 0 }],
    ...(spCertBase64 ? { certData: spCertBase64 } : {}),
  })}, ${php(overrides)});
`);

  // PHP's built-in server finds module.php/… and saml2/idp/SSOService.php
  // itself (PATH_INFO); the router only keeps it from serving the config.
  await writeFile(d('router.php'), `<?php
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path === '/' || $path === '') {
    header('Location: /module.php/core/frontpage_welcome.php');
    return true;
}
return false;
`);

  const logFile = d('php.log');
  const log = await open(logFile, 'w');
  const child = spawn('php', ['-d', 'display_errors=stderr', '-d', `session.save_path=${d('sessions')}`,
    '-S', `127.0.0.1:${port}`, '-t', SSP_WWW, d('router.php')], {
    env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: d('config'), PHP_CLI_SERVER_WORKERS: '2' },
    stdio: ['ignore', log.fd, log.fd],
    // Its own process group: php -S forks its workers, which a signal to
    // the parent alone leaves running.
    detached: true,
  });
  await log.close();
  const killGroup = (signal) => {
    try { process.kill(-child.pid, signal); } catch { /* the group is gone */ }
  };
  const killOnExit = () => killGroup('SIGKILL');
  process.once('exit', killOnExit);
  const stopPHP = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    killGroup('SIGKILL');
    process.off('exit', killOnExit);
  };
  // close stops PHP and removes the directory, unless keep (here or at start).
  const close = async ({ keep: keepNow = keep } = {}) => {
    await stopPHP();
    if (!keepNow) await rm(dir, { recursive: true, force: true });
  };

  const metadataUrl = entityId;
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`php -S exited with ${child.exitCode}`);
      try {
        const r = await fetch(metadataUrl, { signal: AbortSignal.timeout(3000) });
        const body = await r.text();
        if (r.ok && body.includes('IDPSSODescriptor')) break;
        if (r.status !== 503 && r.status < 500 && !r.ok) throw new Error(`GET ${metadataUrl}: ${r.status}: ${body.slice(0, 500)}`);
        if (r.status >= 500) throw new Error(`GET ${metadataUrl}: ${r.status}: ${body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 800)}`);
      } catch (e) {
        if (!/ECONNREFUSED|fetch failed/.test(String(e?.cause ?? e?.message ?? e))) throw e;
      }
      if (Date.now() > deadline) throw new Error(`SimpleSAMLphp did not serve its metadata within 15 s`);
      await sleep(100);
    }
  } catch (e) {
    const out = await readFile(logFile, 'utf8').catch(() => '');
    await stopPHP();
    throw new Error(`${e.message}\nphp log (${dir}):\n${out.slice(-3000)}`);
  }

  return {
    metadataUrl, entityId, dir, logFile, validateAuthnRequests: validate,
    ssoUrl: `${origin}/saml2/idp/SSOService.php`,
    certBase64: cert.certBase64,
    log: () => readFile(logFile, 'utf8').catch(() => ''),
    sspLog: () => readFile(d('log', 'simplesamlphp.log'), 'utf8').catch(() => ''),
    close,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node peers/simplesamlphp.js CONFIG.json   ({port, spMetadataUrl | spEntityId + acsUrl, users})');
    process.exit(2);
  }
  const idp = await start(JSON.parse(await readFile(file, 'utf8')));
  console.log(JSON.stringify({ metadataUrl: idp.metadataUrl, entityId: idp.entityId, dir: idp.dir }));
  const stop = async () => { await idp.close(); process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
