// Audit of the clamav plugin through real SMTP and a real clamd: unusual MIME shapes, a clamd that misbehaves,
// a spool file that cannot be read, and options that only fail when combined.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { startClamd, EICAR, SIG_NAMES, type ClamdHandle } from '../../helpers/clamd.ts';
import { ClamdClient } from '../../../plugins/clamav/clamd-client.ts';
import { configSchema } from '../../../plugins/clamav/config.ts';
import { ScanError } from '../../../plugins/clamav/scan-result.ts';
import { validate } from '../../../core/config/schema.ts';
import { run as clamavCli } from '../../../scripts/cli/clamav.ts';
import { cleanMessage } from './fixtures.ts';

interface FakeClamd { port: number; stop(): Promise<void> }

/** A TCP server in clamd's place that does whatever `onConnection` does with each client. */
async function fakeClamd(onConnection: (sock: net.Socket) => void): Promise<FakeClamd> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {}).on('close', () => sockets.delete(sock));
    onConnection(sock);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** base64 cut into lines of `width` characters, as some mailers do (not the usual 76). */
const base64Lines = (bytes: Buffer, width: number) => bytes.toString('base64').replace(new RegExp(`.{1,${width}}`, 'g'), '$&\r\n');

function nestedMultipart(subject: string): string {
  return `From: a@example.org\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n`
    + 'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n--outer\r\nContent-Type: multipart/alternative; boundary="inner"\r\n\r\n'
    + '--inner\r\nContent-Type: text/plain\r\n\r\nKeep this text.\r\n--inner\r\n'
    + 'Content-Type: application/octet-stream; name="x.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    + `${base64Lines(Buffer.from(EICAR), 13)}--inner--\r\n--outer--\r\n`;
}

function forwardedMessage(subject: string): string {
  return `From: a@example.org\r\nTo: b@example.com\r\nSubject: ${subject}\r\nMIME-Version: 1.0\r\n`
    + 'Content-Type: multipart/mixed; boundary="o"\r\n\r\n--o\r\nContent-Type: text/plain\r\n\r\nSee the forwarded mail.\r\n'
    + '--o\r\nContent-Type: message/rfc822\r\n\r\nFrom: x@example.org\r\nSubject: inner\r\nMIME-Version: 1.0\r\n'
    + 'Content-Type: application/octet-stream; name="e.com"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    + `${base64Lines(Buffer.from(EICAR), 60)}--o--\r\n`;
}

describe('clamav audit: MIME shapes, misbehaving clamd, bad options', function () {
  this.timeout(30_000);
  let clamd: ClamdHandle;
  let smarthost: Smarthost;
  const gateways: TestGateway[] = [];
  const fakes: FakeClamd[] = [];

  before(async () => {
    clamd = await startClamd();
    smarthost = await startSmarthost();
  });
  after(async () => {
    for (const g of gateways) await g.stop();
    for (const f of fakes) await f.stop();
    await smarthost?.stop();
    await clamd?.close();
  });

  async function gatewayWith(options: Record<string, unknown>): Promise<TestGateway> {
    const gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${smarthost.port}`, plugins: [{ name: 'clamav', ...options }] } });
    gateways.push(gw);
    return gw;
  }

  async function fake(onConnection: (sock: net.Socket) => void): Promise<FakeClamd> {
    const f = await fakeClamd(onConnection);
    fakes.push(f);
    return f;
  }

  async function send(gw: TestGateway, message: string, recipients = ['rcpt@example.com']): Promise<SmtpReply> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello()).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<sender@example.org>')).code, 250);
      for (const r of recipients) assert.equal((await c.cmd(`RCPT TO:<${r}>`)).code, 250);
      return await c.data(message);
    } finally {
      await c.quit();
    }
  }

  it('refuses EICAR in a nested multipart (odd base64 lines) and in a forwarded message, logged with the queue id', async () => {
    const gw = await gatewayWith({ socket: clamd.socket });
    const recipients = Array.from({ length: 20 }, (_, i) => `user${i}@example.com`);
    for (const message of [nestedMultipart('audit-nested'), forwardedMessage('audit-forwarded')]) {
      const r = await send(gw, message, recipients);
      assert.equal(r.code, 554, r.text);
      assert.equal(r.text, `5.7.1 Virus found: ${SIG_NAMES.eicarHash}`);
    }
    const found = gw.logs.filter((l) => l.msg === 'virus found');
    assert.equal(found.length, 2);
    for (const line of found) {
      const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === line.qid);
      assert.ok(line.qid && summary, 'the virus line and the message line share a queue id');
      assert.equal((summary.to as string[]).length, 20);
    }
    assert.ok(!smarthost.messages.some((m) => /audit-(nested|forwarded)/.test(m.raw.toString('latin1'))));
  });

  it('strip removes only the infected leaf of a nested multipart and keeps the text', async () => {
    const gw = await gatewayWith({ socket: clamd.socket, action: 'strip' });
    assert.equal((await send(gw, nestedMultipart('audit-strip-nested'), ['a@example.com', 'b@example.com'])).code, 250);
    const out = await smarthost.waitForText('audit-strip-nested');
    assert.ok(out.includes('Keep this text.'));
    assert.ok(out.includes(`contained the virus ${SIG_NAMES.eicarHash} and was removed`));
    assert.ok(!out.includes(base64Lines(Buffer.from(EICAR), 13).slice(0, 13)));
    assert.match(out, /^--inner--\r$/m, 'the inner multipart is still closed');
  });

  it('answers 451 4.7.0 when clamd accepts and never answers, and keeps greeting other clients meanwhile', async () => {
    const silent = await fake(() => {});
    const gw = await gatewayWith({ host: '127.0.0.1', port: silent.port, scan_timeout: '800ms' });
    const started = Date.now();
    const pending = send(gw, cleanMessage('audit-silent'));
    await new Promise((r) => setTimeout(r, 200));
    const other = await SmtpDialog.connect(gw.port);
    assert.equal((await other.hello()).code, 250);
    await other.quit();
    assert.ok(Date.now() - started < 700, 'another client was served while the scan waited');
    const r = await pending;
    assert.equal(r.code, 451, r.text);
    assert.match(r.text, /^4\.7\.0 /);
    assert.ok(gw.logs.some((l) => l.msg === 'virus scan failed' && l.kind === 'timeout'));
  });

  it('answers 451 on a garbage reply, and relays with the warning header under on_error accept', async () => {
    const garbage = await fake((sock) => sock.once('data', () => sock.end('220 not clamd\r\n')));
    const strict = await gatewayWith({ host: '127.0.0.1', port: garbage.port });
    const r = await send(strict, cleanMessage('audit-garbage'));
    assert.equal(r.code, 451, r.text);
    assert.ok(strict.logs.some((l) => l.msg === 'virus scan failed' && l.kind === 'error'));
    const lenient = await gatewayWith({ host: '127.0.0.1', port: garbage.port, on_error: 'accept' });
    assert.equal((await send(lenient, cleanMessage('audit-garbage-accepted'))).code, 250);
    assert.match(await smarthost.waitForText('audit-garbage-accepted'), /^X-Mailmoat-Virus: unscanned; scanner error\r$/m);
  });

  it('a message file that cannot be read is a failed scan, not an uncaught exception', async () => {
    const client = new ClamdClient({ target: { socket: clamd.socket }, connectTimeout: 1000, scanTimeout: 3000 });
    const missing = fs.createReadStream(path.join(clamd.dir, 'no-such-spool-file.eml'));
    const err = await client.scan(missing).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ScanError, String(err));
    assert.equal(err.kind, 'error');
    assert.match(err.message, /ENOENT/);
    assert.equal(await client.ping(), true, 'clamd is still fine');
  });

  it('moat clamav test fails a scanner that calls everything infected, and passes the real clamd', async () => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...a: unknown[]) => { lines.push(a.join(' ')); };
    let always: number;
    let real: number;
    try {
      always = await clamavCli(['test', '--command', 'false {file}']);
      real = await clamavCli(['test', '--socket', clamd.socket]);
    } finally {
      console.log = log;
    }
    assert.equal(always, 1, lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith('harmless text: WRONGLY reported')), lines.join('\n'));
    assert.equal(real, 0, lines.join('\n'));
    assert.ok(lines.includes('harmless text: clean'));
  });

  it('refuses at validation the option sets the plugin cannot start with', () => {
    const messages = (input: Record<string, unknown>) => validate(configSchema, input, 'plugins[0]').issues.map((i) => `${i.path}: ${i.message}`);
    assert.match(messages({}).join('\n'), /^plugins\[0\]: set `socket`/);
    assert.match(messages({ scanner: 'command' }).join('\n'), /^plugins\[0\]\.command: /);
    assert.match(messages({ scanner: 'command', command: { template: 'x', virus_pattern: '([' } }).join('\n'), /^plugins\[0\]\.command\.virus_pattern: Invalid regular expression/);
    assert.deepEqual(messages({ socket: 'clamd.sock' }), []);
    assert.deepEqual(messages({ port: 3310 }), []);
  });
});
