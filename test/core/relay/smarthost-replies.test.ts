// What the relay makes of a smarthost's refusals before the envelope and of a slow answer to the final dot, as a
// Postfix admin reads them: the deferral names the step the server refused (`SASL authentication failed; server X
// said: 535 …`), not only its reply; and the reply to the dot is waited for as long as data_done_timeout (Postfix's
// smtp_data_done_timeout), so a smarthost that scans before it answers gets the message once, not again on retry.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { SMTPServer } from 'smtp-server';
import { SmtpRelay } from '../../../core/relay/smtp-relay.ts';
import { smarthostTarget } from '../../../core/relay/smarthost.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import type { RecipientResult } from '../../../core/relay/types.ts';
import { DATA_DONE_TIMEOUT_MS } from '../../../core/relay/smtp-client.ts';
import { validateConfig } from '../../../core/config/load.ts';

const MSG = 'Subject: replies\r\n\r\nhello\r\n';
const body = () => Readable.from([Buffer.from(MSG)]);
const entry = (): QueueEntry => ({
  id: 'replies', mailFrom: 'a@client.example', recipients: [], prepend: '', remove: [], receivedAt: Date.now(), size: MSG.length,
  client: { ip: '192.0.2.1' }, authenticated: false, attempts: 0, nextAttemptAt: 0, history: [],
});

/** A CA and a leaf for 127.0.0.1 it signed, made by openssl in `dir`. */
function makeCertificates(dir: string): { caFile: string; key: Buffer; cert: Buffer } {
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=Mailmoat test CA');
  writeFileSync(path.join(dir, 'leaf.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-out', 'leaf.csr', '-subj', '/CN=smarthost');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'leaf.pem', '-days', '2', '-extfile', 'leaf.ext');
  return { caFile: path.join(dir, 'ca.pem'), key: readFileSync(path.join(dir, 'leaf.key')), cert: readFileSync(path.join(dir, 'leaf.pem')) };
}

/** A real smtp-server smarthost with STARTTLS; `answerAfterMs` holds the reply to the final dot that long. */
async function smarthost(tlsFiles: { key: Buffer; cert: Buffer }, o: { auth?: { user: string; pass: string }; answerAfterMs?: number } = {}) {
  const got: string[] = [];
  const server = new SMTPServer({
    logger: false, disableReverseLookup: true, authOptional: !o.auth, ...tlsFiles,
    onAuth(auth, _s, cb) {
      if (o.auth && auth.username === o.auth.user && auth.password === o.auth.pass) cb(null, { user: auth.username });
      else cb(new Error('Invalid credentials'));
    },
    onData(stream, _s, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        got.push(Buffer.concat(chunks).toString('latin1'));
        setTimeout(() => cb(), o.answerAfterMs ?? 0);
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  return { port, got, stop: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A hand-written server that answers each command from `replies` (by verb), for refusals smtp-server does not give. */
async function scripted(replies: Record<string, string>) {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    sock.write(replies.greeting ?? '220 scripted.test ESMTP\r\n');
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const verb = buf.slice(0, i).split(' ')[0].toUpperCase();
        buf = buf.slice(i + 2);
        if (verb === 'QUIT') { sock.end('221 bye\r\n'); return; }
        sock.write(replies[verb] ?? '250 ok\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    stop: async () => { for (const x of sockets) x.destroy(); await new Promise<void>((r) => server.close(() => r())); },
  };
}

describe('smarthost refusals and the wait after the final dot', function () {
  this.timeout(30_000);
  let dir: string;
  let certs: ReturnType<typeof makeCertificates>;
  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mm-smarthost-replies-'));
    certs = makeCertificates(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('a refusal before the envelope names its step with the server\'s reply', () => {
    it('a refused login: "SASL authentication … refused; server 127.0.0.1 said: 535 …", deferred, no password', async () => {
      // It was deferred as a bare "535 5.7.8 Error: authentication failed: …", which named no step.
      const srv = await smarthost(certs, { auth: { user: 'relay', pass: 'right' } });
      try {
        const target = smarthostTarget({ url: `smtp://relay:hunter2@127.0.0.1:${srv.port}`, starttls: 'required', tls_verify: true, tls_ca_file: certs.caFile, connections: 1, timeout: 5000 })!;
        const relay = new SmtpRelay(target, 'relay.test');
        const [res] = await relay.send(entry(), ['u@example.com'], body);
        await relay.close();
        assert.deepEqual([res.ok, res.permanent, res.hostFailure], [false, false, true]);
        assert.match(res.reply, /^SASL authentication as relay refused; server 127\.0\.0\.1 said: 535 Invalid credentials$/);
        assert.ok(!res.reply.includes('hunter2'));
        assert.equal(srv.got.length, 0);
      } finally { await srv.stop(); }
    });

    it('a refused STARTTLS, a refused HELO and a refused greeting each say which, with the reply', async () => {
      const cases: Array<[Record<string, string>, 'required' | 'opportunistic', RegExp]> = [
        [{ EHLO: '250-scripted.test\r\n250 STARTTLS\r\n', STARTTLS: '454 4.7.0 TLS not available due to local problem\r\n' }, 'required',
          /^STARTTLS refused; server 127\.0\.0\.1 said: 454 4\.7\.0 TLS not available due to local problem$/],
        [{ EHLO: '502 5.5.2 what\r\n', HELO: '550 5.7.1 go away\r\n' }, 'opportunistic', /^EHLO and HELO refused; server 127\.0\.0\.1 said: 550 5\.7\.1 go away$/],
        [{ greeting: '554 5.3.2 no service here\r\n' }, 'opportunistic', /^greeting refused; server 127\.0\.0\.1 said: 554 5\.3\.2 no service here$/],
      ];
      for (const [replies, starttls, expected] of cases) {
        const srv = await scripted(replies);
        try {
          const relay = new SmtpRelay({ host: '127.0.0.1', port: srv.port, secure: false, starttls, tlsVerify: true, connections: 1, timeout: 5000, display: 'scripted' }, 'relay.test');
          const [res] = await relay.send(entry(), ['u@example.com'], body);
          await relay.close();
          assert.deepEqual([res.ok, res.permanent], [false, false]);
          assert.match(res.reply, expected);
        } finally { await srv.stop(); }
      }
    });
  });

  describe('data_done_timeout', () => {
    /** Sends as the queue does: again after a deferral, at most `attempts` times. */
    async function deliverLikeTheQueue(relay: SmtpRelay, attempts: number): Promise<RecipientResult[]> {
      const results: RecipientResult[] = [];
      for (let i = 0; i < attempts; i++) {
        const [res] = await relay.send(entry(), ['u@example.com'], body);
        results.push(res);
        if (res.ok) break;
      }
      return results;
    }

    it('a smarthost that answers the dot after longer than timeout, within data_done_timeout, gets the message once', async () => {
      // With timeout 1s the dot's reply was given up on, and the retry delivered a second copy.
      const srv = await smarthost(certs, { answerAfterMs: 2500 });
      try {
        const target = smarthostTarget({ url: `smtp://127.0.0.1:${srv.port}`, starttls: 'required', tls_verify: true, tls_ca_file: certs.caFile, connections: 1, timeout: 1000, data_done_timeout: 10_000 })!;
        const relay = new SmtpRelay(target, 'relay.test');
        const results = await deliverLikeTheQueue(relay, 2);
        // The pooled session, back on its command timeout, serves the next message after such a wait.
        const [next] = await relay.send(entry(), ['v@example.com'], body);
        await relay.close();
        assert.deepEqual(results.map((r) => r.ok), [true], results.map((r) => r.reply).join(' | '));
        assert.ok(next.ok, next.reply);
        assert.equal(srv.got.length, 2, 'one copy of each message');
      } finally { await srv.stop(); }
    });

    it('a smarthost silent after the dot for longer than data_done_timeout is deferred with a line that names it', async () => {
      const srv = await smarthost(certs, { answerAfterMs: 3000 });
      try {
        const target = smarthostTarget({ url: `smtp://127.0.0.1:${srv.port}`, starttls: 'required', tls_verify: true, tls_ca_file: certs.caFile, connections: 1, timeout: 5000, data_done_timeout: 1000 })!;
        const relay = new SmtpRelay(target, 'relay.test');
        const t0 = Date.now();
        const [res] = await relay.send(entry(), ['u@example.com'], body);
        const waited = Date.now() - t0;
        await relay.close();
        assert.deepEqual([res.ok, res.permanent], [false, false]);
        assert.match(res.reply, /no answer from 127\.0\.0\.1:\d+ within 1000 ms \(data_done_timeout\) after the final dot/);
        assert.ok(waited < 2900, `gave up after ${waited} ms`);
      } finally { await srv.stop(); }
    });

    it('defaults to 10 minutes, as Postfix\'s smtp_data_done_timeout, and takes a duration', async () => {
      const mapping = await validateConfig({ smarthost: { url: 'smtp://127.0.0.1:25' } });
      assert.equal(smarthostTarget(mapping.smarthost)!.dataDoneTimeout, 600_000);
      // The URL form leaves it to the client, whose default is the same.
      assert.equal(smarthostTarget('smtp://127.0.0.1:25')!.dataDoneTimeout ?? DATA_DONE_TIMEOUT_MS, 600_000);
      const set = await validateConfig({ smarthost: { url: 'smtp://127.0.0.1:25', data_done_timeout: '15m' } });
      assert.equal(smarthostTarget(set.smarthost)!.dataDoneTimeout, 900_000);
    });
  });
});
