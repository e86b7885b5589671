// The relay's TLS and AUTH policy towards a smarthost, as a Postfix admin expects it: opportunistic STARTTLS takes
// any certificate and falls back to plaintext when the handshake fails (`may`), required TLS with tls_verify checks
// the certificate (`verify`), without tls_verify it only encrypts (`encrypt`); credentials go only over TLS and only
// to a server that offers AUTH, and a refused login defers without the password in the reply. `moat doctor` reports
// what a delivery would do. Against real listeners with a generated certificate.
import assert from 'node:assert/strict';
import net from 'node:net';
import { TLSSocket } from 'node:tls';
import { Readable } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import type { SmarthostTarget } from '../../../core/relay/smarthost.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { Logger, LogFields } from '../../../core/log/types.ts';
import { loadTls, type TlsMaterial } from '../../../core/smtp/tls.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { smarthostCheck } from '../../../scripts/cli/doctor-checks.ts';
import nodemailer from 'nodemailer';
import { startGateway } from '../../helpers/gateway.ts';
import { startSmarthost } from '../../helpers/smarthost.ts';

const MSG = 'Subject: tls policy\r\n\r\nhello\r\n';
const body = () => Readable.from([Buffer.from(MSG)]);

function entry(): QueueEntry {
  return {
    id: 'tls', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now(), size: MSG.length,
    client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
  };
}

/** A logger that keeps its warnings. */
function warnings(): Logger & { lines: Array<{ msg: string; fields?: LogFields }> } {
  const lines: Array<{ msg: string; fields?: LogFields }> = [];
  const log = { lines, debug() {}, info() {}, error() {}, warn(msg: string, fields?: LogFields) { lines.push({ msg, fields }); }, child: () => log };
  return log;
}

function relay(port: number, o: Partial<SmarthostTarget>, log?: Logger): SmtpRelay {
  return new SmtpRelay({
    host: '127.0.0.1', port, secure: false, starttls: 'opportunistic', tlsVerify: true, connections: 1, timeout: 5000,
    display: `smtp://127.0.0.1:${port}`, ...o,
  }, 'relay.test', log);
}

/** A real smtp-server with STARTTLS and the generated certificate; records how each message arrived. */
async function tlsServer(keys: TlsMaterial, extra: SMTPServerOptions = {}) {
  const got: Array<{ secure: boolean; user?: string }> = [];
  const server = new SMTPServer({
    logger: false, disableReverseLookup: true, authOptional: true, key: keys.key, cert: keys.cert,
    onAuth(auth, _s, cb) { cb(null, { user: auth.username }); },
    onData(stream, session, cb) {
      stream.resume();
      stream.on('end', () => { got.push({ secure: session.secure, user: (session.user || undefined) as string | undefined }); cb(); });
    },
    ...extra,
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, got, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

/**
 * A hand-written server, for what smtp-server will not do: AUTH offered only before TLS, a STARTTLS whose handshake
 * fails. Records every line it reads, in plaintext and in TLS, over all connections.
 */
async function scripted(keys: TlsMaterial, s: { plainEhlo: string[]; tlsEhlo?: string[]; brokenTls?: boolean; auth?: string }) {
  const lines: string[] = [];
  const delivered: Array<{ secure: boolean }> = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const serve = (sock: net.Socket, secure: boolean) => {
    let buf = '';
    let inData = false;
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (inData) { if (line === '.') { inData = false; delivered.push({ secure }); sock.write('250 2.0.0 queued\r\n'); } continue; }
        lines.push(`${secure ? 'tls' : 'plain'}: ${line}`);
        const verb = line.split(' ')[0].toUpperCase();
        const ehlo = secure ? s.tlsEhlo ?? [] : s.plainEhlo;
        if (verb === 'EHLO') sock.write(['scripted.test', ...ehlo].map((l, n, all) => `250${n === all.length - 1 ? ' ' : '-'}${l}\r\n`).join(''));
        else if (verb === 'STARTTLS') {
          sock.removeAllListeners('data');
          if (s.brokenTls) { sock.write('220 go ahead\r\n', () => sock.end('this is not a TLS server hello\r\n')); return; }
          sock.write('220 go ahead\r\n', () => {
            const t = new TLSSocket(sock, { isServer: true, key: keys.key, cert: keys.cert });
            t.on('error', () => {});
            serve(t, true);
          });
          return;
        } else if (verb === 'AUTH') sock.write(`${s.auth ?? '235 2.7.0 ok'}\r\n`);
        else if (verb === 'DATA') { inData = true; sock.write('354 go\r\n'); }
        else if (verb === 'QUIT') sock.end('221 bye\r\n');
        else sock.write('250 ok\r\n');
      }
    });
  };
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.write('220 scripted.test ESMTP\r\n');
    serve(sock, false);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port, lines, delivered, get connections() { return connections; },
    stop: async () => { for (const x of sockets) x.destroy(); await new Promise<void>((r) => server.close(() => r())); },
  };
}

describe('relay TLS and AUTH policy', function () {
  this.timeout(20_000);
  let dir: string;
  let keys: TlsMaterial;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-tls-policy-'));
    keys = loadTls({ dataDir: dir, hostname: 'localhost' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('certificates', () => {
    it('opportunistic STARTTLS delivers over TLS to a self-signed smarthost, tls_verify or not (Postfix "may")', async () => {
      // It deferred every message with tls_verify (the default for smarthosts) while a host with no TLS got them.
      const srv = await tlsServer(keys);
      try {
        for (const tlsVerify of [true, false]) {
          const r = relay(srv.port, { tlsVerify });
          const [res] = await r.send(entry(), ['u@example.com'], body);
          await r.close();
          assert.ok(res.ok, res.reply);
        }
        assert.deepEqual(srv.got.map((g) => g.secure), [true, true]);
      } finally { await srv.stop(); }
    });

    it('required STARTTLS with tls_verify refuses a self-signed certificate (temporary), and without tls_verify only encrypts', async () => {
      const srv = await tlsServer(keys);
      try {
        const verified = relay(srv.port, { starttls: 'required', tlsVerify: true });
        const [refused] = await verified.send(entry(), ['u@example.com'], body);
        await verified.close();
        assert.deepEqual([refused.ok, refused.permanent, refused.hostFailure], [false, false, true]);
        assert.match(refused.reply, /self-signed certificate/);
        assert.equal(srv.got.length, 0);
        const encrypted = relay(srv.port, { starttls: 'required', tlsVerify: false });
        const [res] = await encrypted.send(entry(), ['u@example.com'], body);
        await encrypted.close();
        assert.ok(res.ok, res.reply);
        assert.deepEqual(srv.got.map((g) => g.secure), [true]);
      } finally { await srv.stop(); }
    });

    it('opportunistic STARTTLS with credentials sends them only after a verified certificate, unless tls_verify is off', async () => {
      // A certificate anyone can make must not be all it takes to collect the smarthost password.
      const srv = await tlsServer(keys);
      try {
        const verified = relay(srv.port, { user: 'relay', pass: 'hunter2', tlsVerify: true });
        const [refused] = await verified.send(entry(), ['u@example.com'], body);
        await verified.close();
        assert.deepEqual([refused.ok, refused.permanent, refused.hostFailure], [false, false, true]);
        assert.match(refused.reply, /self-signed certificate/);
        assert.equal(srv.got.length, 0);
        const trusting = relay(srv.port, { user: 'relay', pass: 'hunter2', tlsVerify: false });
        const [res] = await trusting.send(entry(), ['u@example.com'], body);
        await trusting.close();
        assert.ok(res.ok, res.reply);
        assert.deepEqual(srv.got, [{ secure: true, user: 'relay' }]);
      } finally { await srv.stop(); }
    });
  });

  describe('a TLS handshake that fails', () => {
    it('with opportunistic STARTTLS: the same host gets the message in plaintext on a new connection, with a warning', async () => {
      const srv = await scripted(keys, { plainEhlo: ['PIPELINING', 'STARTTLS'], brokenTls: true });
      const log = warnings();
      try {
        const r = relay(srv.port, {}, log);
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.ok(res.ok, res.reply);
        assert.deepEqual(srv.delivered, [{ secure: false }]);
        assert.equal(srv.connections, 2);
        assert.equal(srv.lines.filter((l) => l === 'plain: STARTTLS').length, 1, 'the second session does not try TLS again');
        assert.equal(log.lines.length, 1);
        assert.match(log.lines[0].msg, /^STARTTLS failed \(.*\); this session delivers without TLS/);
      } finally { await srv.stop(); }
    });

    it('with credentials configured: deferred, never retried in plaintext', async () => {
      const srv = await scripted(keys, { plainEhlo: ['STARTTLS', 'AUTH PLAIN LOGIN'], brokenTls: true });
      try {
        const r = relay(srv.port, { user: 'relay', pass: 'hunter2' });
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.deepEqual([res.ok, res.permanent, res.hostFailure], [false, false, true]);
        assert.match(res.reply, /not retrying without TLS/);
        assert.equal(srv.connections, 1);
        assert.ok(!srv.lines.some((l) => l.includes('AUTH')), srv.lines.join(' | '));
      } finally { await srv.stop(); }
    });

    it('with required STARTTLS: deferred at once, never retried in plaintext', async () => {
      // A line that is no reply right behind the 220 to STARTTLS left the session waiting for ever, past every timeout.
      const srv = await scripted(keys, { plainEhlo: ['STARTTLS'], brokenTls: true });
      try {
        const r = relay(srv.port, { starttls: 'required', tlsVerify: false, timeout: 3000 });
        const t0 = Date.now();
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.ok(Date.now() - t0 < 2500, `took ${Date.now() - t0} ms`);
        assert.deepEqual([res.ok, res.permanent, res.hostFailure], [false, false, true]);
        assert.equal(srv.connections, 1);
        assert.equal(srv.delivered.length, 0);
      } finally { await srv.stop(); }
    });
  });

  describe('credentials', () => {
    it('a server that offers no AUTH gets the mail without credentials, and a warning once per connection (Postfix)', async () => {
      // The client sent AUTH PLAIN with the password anyway, and deferred all mail on the 502.
      const srv = await tlsServer(keys, { disabledCommands: ['AUTH'] });
      const log = warnings();
      try {
        const r = relay(srv.port, { user: 'relay', pass: 'hunter2', tlsVerify: false }, log);
        const first = await r.send(entry(), ['u@example.com'], body);
        const second = await r.send(entry(), ['v@example.com'], body);
        await r.close();
        assert.ok(first[0].ok && second[0].ok, first[0].reply);
        assert.deepEqual(srv.got, [{ secure: true, user: undefined }, { secure: true, user: undefined }]);
        assert.equal(log.lines.length, 1, 'one pooled connection, one warning');
        assert.match(log.lines[0].msg, /does not offer AUTH: credentials not sent/);
        assert.ok(!JSON.stringify(log.lines).includes('hunter2'));
      } finally { await srv.stop(); }
    });

    it('in the gateway: the warning reaches its log under component relay, and the message is delivered', async () => {
      const sink = await startSmarthost();
      const gw = await startGateway({ config: { smarthost: { url: `smtp://relay:hunter2@127.0.0.1:${sink.port}` } } });
      try {
        const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, secure: false, ignoreTLS: true });
        await t.sendMail({ envelope: { from: 'a@client.example', to: ['user@example.com'] }, raw: MSG });
        await sink.waitFor(1);
        const warned = gw.logs.filter((r) => r.level === 'warn' && /does not offer AUTH/.test(String(r.msg)));
        assert.equal(warned.length, 1, JSON.stringify(gw.logs.filter((r) => r.level === 'warn')));
        assert.equal(warned[0].component, 'relay');
        assert.ok(!JSON.stringify(gw.logs).includes('hunter2'), 'the password is in no log line');
      } finally { await gw.stop(); await sink.stop(); }
    });

    it('a server that hid AUTH and then refuses relaying: deferred (451 4.7.0), not bounced', async () => {
      // Sent without the configured credentials, a 554 "relay access denied" is about our session, not the message.
      const srv = await tlsServer(keys, { disabledCommands: ['AUTH'], onRcptTo(_a, _s, cb) { cb(Object.assign(new Error('5.7.1 Relay access denied'), { responseCode: 554 })); } });
      try {
        const r = relay(srv.port, { user: 'relay', pass: 'hunter2', tlsVerify: false }, warnings());
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.deepEqual([res.ok, res.permanent], [false, false]);
        assert.match(res.reply, /^451 4\.7\.0 refused while delivering without AUTH, which 127\.0\.0\.1 did not offer: 554 5\.7\.1 Relay access denied/);
        // An unknown user is still refused for good; and without credentials configured, a relay refusal stands too.
        const nobody = await tlsServer(keys, { disabledCommands: ['AUTH'], onRcptTo(_a, _s, cb) { cb(Object.assign(new Error('5.1.1 No such user'), { responseCode: 550 })); } });
        const r2 = relay(nobody.port, { user: 'relay', pass: 'hunter2', tlsVerify: false }, warnings());
        const [unknown] = await r2.send(entry(), ['u@example.com'], body);
        await r2.close();
        await nobody.stop();
        assert.deepEqual([unknown.ok, unknown.permanent], [false, true]);
        const plain = relay(srv.port, { tlsVerify: false });
        const [hard] = await plain.send(entry(), ['u@example.com'], body);
        await plain.close();
        assert.deepEqual([hard.ok, hard.permanent], [false, true]);
      } finally { await srv.stop(); }
    });

    it('AUTH offered only before TLS: the credentials never cross the wire, in plaintext or at all', async () => {
      const srv = await scripted(keys, { plainEhlo: ['STARTTLS', 'AUTH PLAIN LOGIN'], tlsEhlo: ['PIPELINING'] });
      const log = warnings();
      try {
        const r = relay(srv.port, { user: 'relay', pass: 'hunter2', tlsVerify: false }, log);
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.ok(res.ok, res.reply);
        assert.ok(!srv.lines.some((l) => l.includes('AUTH')), srv.lines.join(' | '));
        assert.deepEqual(srv.delivered, [{ secure: true }]);
        assert.equal(log.lines.length, 1);
      } finally { await srv.stop(); }
    });

    it('AUTH offered in plaintext only (no STARTTLS): deferred, credentials not sent', async () => {
      const srv = await scripted(keys, { plainEhlo: ['AUTH PLAIN LOGIN'] });
      try {
        const r = relay(srv.port, { user: 'relay', pass: 'hunter2' });
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.deepEqual([res.ok, res.permanent, res.hostFailure], [false, false, true]);
        assert.match(res.reply, /not sending credentials to 127\.0\.0\.1 without TLS/);
        assert.ok(!srv.lines.some((l) => l.includes('AUTH')));
      } finally { await srv.stop(); }
    });

    it('AUTH refused with 535: deferred with the server\'s reply, the password in no reply', async () => {
      const srv = await scripted(keys, { plainEhlo: ['STARTTLS'], tlsEhlo: ['AUTH LOGIN PLAIN'], auth: '535 5.7.8 authentication credentials invalid' });
      try {
        const r = relay(srv.port, { user: 'relay', pass: 'hunter2', tlsVerify: false });
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.deepEqual([res.ok, res.permanent, res.hostFailure], [false, false, true]);
        assert.equal(res.reply, 'SASL authentication as relay refused; server 127.0.0.1 said: 535 5.7.8 authentication credentials invalid');
        assert.ok(!res.reply.includes('hunter2') && !res.reply.includes(Buffer.from('\0relay\0hunter2').toString('base64')));
        assert.deepEqual(srv.lines.filter((l) => l.includes('AUTH')).map((l) => l.split(' ').slice(0, 3).join(' ')), ['tls: AUTH PLAIN']);
        assert.equal(srv.delivered.length, 0);
      } finally { await srv.stop(); }
    });

    it('a server offering neither PLAIN nor LOGIN gets no credentials: deferred with what it offers', async () => {
      const srv = await scripted(keys, { plainEhlo: ['STARTTLS'], tlsEhlo: ['AUTH CRAM-MD5'] });
      try {
        const r = relay(srv.port, { user: 'relay', pass: 'hunter2', tlsVerify: false });
        const [res] = await r.send(entry(), ['u@example.com'], body);
        await r.close();
        assert.deepEqual([res.ok, res.permanent], [false, false]);
        assert.match(res.reply, /offers AUTH CRAM-MD5, but neither PLAIN nor LOGIN/);
        assert.ok(!srv.lines.some((l) => l.includes('AUTH')));
      } finally { await srv.stop(); }
    });
  });

  describe('moat doctor', () => {
    // A hostname of its own: the test servers greet with the machine's name, which doctor takes for a loop to itself.
    const check = async (smarthost: unknown) => smarthostCheck.run({ config: await validateConfig({ smarthost, data_dir: dir, server: { hostname: 'gw.test' } }), baseDir: dir });

    it('reports what a delivery would do: an unverified certificate under opportunistic TLS, a refusal under required TLS', async () => {
      const srv = await tlsServer(keys);
      try {
        const [may] = await check(`smtp://127.0.0.1:${srv.port}`);
        assert.equal(may.status, 'ok', may.text);
        assert.match(may.text, /TLS, certificate not verified \(.*SELF_SIGNED.*\)/);
        const [verify] = await check({ url: `smtp://127.0.0.1:${srv.port}`, starttls: 'required' });
        assert.equal(verify.status, 'fail', verify.text);
        assert.match(verify.text, /self-signed certificate/);
      } finally { await srv.stop(); }
    });

    it('warns when the credentials would not be used or TLS would be given up for plaintext, and fails a refused login with its reply', async () => {
      const noAuth = await tlsServer(keys, { disabledCommands: ['AUTH'] });
      const broken = await scripted(keys, { plainEhlo: ['STARTTLS'], brokenTls: true });
      const refusing = await scripted(keys, { plainEhlo: ['STARTTLS'], tlsEhlo: ['AUTH PLAIN'], auth: '535 5.7.8 bad credentials' });
      try {
        const [c] = await check({ url: `smtp://relay:hunter2@127.0.0.1:${refusing.port}`, tls_verify: false });
        assert.equal(c.status, 'fail', c.text);
        assert.match(c.text, /authentication as relay refused: 535 5\.7\.8 bad credentials/);
        assert.ok(!c.text.includes('hunter2'));
        const [a] = await check({ url: `smtp://relay:hunter2@127.0.0.1:${noAuth.port}`, tls_verify: false });
        assert.equal(a.status, 'warn', a.text);
        assert.match(a.text, /does not offer AUTH/);
        assert.ok(!a.text.includes('hunter2'));
        const [b] = await check(`smtp://127.0.0.1:${broken.port}`);
        assert.equal(b.status, 'warn', b.text);
        assert.match(b.text, /without TLS/);
      } finally { await Promise.all([noAuth.stop(), broken.stop(), refusing.stop()]); }
    });
  });
});
