// What an SRE greps the log for, from a real `moat start` driven by real clients, read back from its JSON lines: a
// refused RCPT with its sender, HELO and client (Postfix's NOQUEUE reject); why smtp-server dropped a client; AUTH
// failures with the client's address; the TLS handshake; a failed handshake under its session's cid; and the raw
// command line in the helo, mailFrom, rcptTo and dataStart hooks (Haraka's karma reads `MAIL FROM: <x>` as sent).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { freePort } from '../../helpers/ports.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { until } from '../queue/send.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';

const run = promisify(execFile);
const PROJECT = path.resolve(import.meta.dirname, '..', '..', '..');
const MOAT = path.join(PROJECT, 'scripts', 'moat.js');

type Line = Record<string, unknown> & { msg: string; level: string; cid?: string };

/** A plugin that logs the command line each hook got, so the test reads it from the log as an admin would. */
const RECORDER = `import { definePlugin, s } from ${JSON.stringify(path.join(PROJECT, 'core', 'index.ts'))};
const note = (ctx) => { ctx.log.info('hook command', { hook: ctx.hook, line: ctx.command?.line ?? null, verb: ctx.command?.verb ?? null }); };
export default definePlugin({
  name: 'command-recorder',
  description: 'logs ctx.command at the transaction hooks',
  configSchema: s.object({}),
  create() { return { hooks: { helo: note, mailFrom: note, rcptTo: note, dataStart: note } }; },
});
`;

function lines(gw: SpawnedGateway): Line[] {
  return gw.output.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
}

async function metrics(gw: SpawnedGateway): Promise<Record<string, number>> {
  return JSON.parse((await run(process.execPath, [MOAT, 'metrics', '--json', '--config', gw.configFile], { timeout: 20_000 })).stdout) as Record<string, number>;
}

/** Connects, sends `input` at once (or after the greeting), and collects everything until the server closes. */
async function rawSession(port: number, input: string | Buffer, opts: { afterGreeting?: boolean } = {}): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  let seen = '';
  s.on('data', (d: Buffer) => {
    const first = !seen;
    seen += d.toString('latin1');
    if (first && opts.afterGreeting) s.write(input);
  });
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  if (!opts.afterGreeting) s.write(input);
  await new Promise<void>((r) => s.once('close', () => r()));
  return seen;
}

/** The lines of one session. */
function sessionLines(all: Line[], cid: unknown): Line[] {
  return all.filter((l) => l.cid === cid);
}

describe('session log lines an SRE traces by (real gateway, real JSON lines)', function () {
  this.timeout(60_000);
  let gw: SpawnedGateway;
  let scratch: string;
  let tlsPort: number;

  before(async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'mm-log-session-'));
    const users = path.join(scratch, 'users');
    new UsersFile(users).add('alice', 'right-password');
    const plugin = path.join(scratch, 'command-recorder.ts');
    writeFileSync(plugin, RECORDER);
    tlsPort = await freePort();
    gw = await spawnGateway({ config: {
      // Loopback is no trusted proxy here (the helper's default), so each session is checked, and logs `connect`, at once.
      server: { tls_listen: [`127.0.0.1:${tlsPort}`], greeting_delay: '300ms', trusted_proxies: ['192.0.2.1/32'] },
      auth: { users_file: users },
      access: { blocked_recipients: ['blocked@example.com'] },
      limits: { max_errors: 50 },
      domains: ['example.com', 'open.example'],
      plugins: [{ name: 'command-recorder', module: plugin }, { name: 'greylist', skip_recipient_domains: ['open.example'] }],
    } });
  });
  after(async () => {
    await gw?.kill();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('gives a refused RCPT (blocked by the core, greylisted by a plugin) the sender, HELO, client and the recipient as a list', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'Sender.Host.Test' });
    assert.equal((await d.cmd('MAIL FROM:<someone@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<blocked@example.com>')).code, 550);
    assert.equal((await d.cmd('RCPT TO:<new@example.com>')).code, 451);
    await d.quit();
    await until(() => lines(gw).filter((l) => l.msg === 'recipient refused').length >= 2, 5000, 'both refusals');
    const refused = lines(gw).filter((l) => l.msg === 'recipient refused');
    assert.deepEqual(refused.map((l) => [l.from, l.helo, l.client, l.to, String(l.reply).slice(0, 3)]), [
      ['someone@client.example', 'sender.host.test', '127.0.0.1', ['blocked@example.com'], '550'],
      ['someone@client.example', 'sender.host.test', '127.0.0.1', ['new@example.com'], '451'],
    ]);
    assert.equal(refused[1].plugin, 'greylist');
    assert.ok(refused.every((l) => l.level === 'info' && l.cid && l.qid));
  });

  it('says why smtp-server dropped a client (early talker, ten unknown verbs) and counts each as refused; a 20 KB line is no drop', async () => {
    const before = (await metrics(gw)).connections_refused ?? 0;
    const from = lines(gw).length;
    const early = await rawSession(gw.port, 'EHLO early.test\r\n');
    assert.match(early, /^421 .*talk too soon/m);
    // One at a time, as a confused client would: sent in one write they would be refused as pipelining instead.
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    for (let i = 0; i < 9; i++) assert.equal((await d.cmd(`XBOGUS${i}`)).code, 500);
    assert.match((await d.cmd('XBOGUS9')).text, /too many unrecognized commands/);
    assert.equal((await d.read().catch((e: Error) => e.message)), 'connection closed');
    // Answered 500 5.5.2 as Postfix does, and the session goes on (core/smtp/line-too-long.ts).
    const long = await SmtpDialog.connect(gw.port);
    await long.read();
    long.write(`EHLO ${'x'.repeat(20 * 1024)}\r\n`);
    const tooLong = await long.read();
    assert.equal(`${tooLong.code} ${tooLong.text}`, '500 5.5.2 Error: line too long');
    assert.equal((await long.cmd('QUIT')).code, 221);
    await until(() => lines(gw).slice(from).filter((l) => l.msg === 'connection closed').length >= 3, 5000, 'three closed sessions');
    const all = lines(gw).slice(from);
    const drops = all.filter((l) => l.msg.startsWith('client refused: '));
    assert.deepEqual(drops.map((l) => l.msg), [
      'client refused: talked before the greeting',
      'client refused: too many unrecognized commands',
    ]);
    for (const d of drops) {
      assert.equal(d.client, '127.0.0.1');
      assert.match(String(d.reply), /^421 /);
      const closed = sessionLines(all, d.cid).find((l) => l.msg === 'connection closed');
      assert.equal(closed?.reason, d.msg.slice('client refused: '.length), 'the closing line says why');
    }
    assert.equal(drops[1].after, 'XBOGUS9');
    assert.equal((await metrics(gw)).connections_refused - before, 2);
  });

  it('logs a failed AUTH with the client address and its cid, the user name capped, never the password', async () => {
    const from = lines(gw).length;
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'guesser.test' });
    assert.equal((await d.starttls()).code, 220);
    await d.cmd('EHLO guesser.test');
    const longUser = 'u'.repeat(5000);
    const plain = (u: string, p: string) => `AUTH PLAIN ${Buffer.from(`\0${u}\0${p}`).toString('base64')}`;
    assert.equal((await d.cmd(plain('alice', 'not-the-Secret-42'))).code, 535);
    assert.equal((await d.cmd(plain(longUser, 'another-Secret-43'))).code, 535);
    assert.equal((await d.cmd(plain('alice', 'right-password'))).code, 235);
    await d.quit();
    await until(() => lines(gw).slice(from).some((l) => l.msg === 'authenticated'), 5000, 'the login');
    const all = lines(gw).slice(from);
    const failed = all.filter((l) => l.msg === 'authentication failed');
    assert.equal(failed.length, 2);
    const cid = all.find((l) => l.msg === 'connect')!.cid;
    for (const f of failed) {
      assert.equal(f.client, '127.0.0.1');
      assert.equal(f.cid, cid);
    }
    assert.equal(failed[0].user, 'alice');
    assert.ok(String(failed[1].user).length <= 100 && String(failed[1].user).startsWith('uuu'), `capped: ${String(failed[1].user).length}`);
    assert.equal(all.find((l) => l.msg === 'authenticated')!.client, '127.0.0.1');
    const out = gw.output.join('');
    assert.ok(!out.includes('Secret-4') && !out.includes('right-password'), 'no password in the log');
    assert.ok(!out.includes(longUser), 'the whole name is not logged');
  });

  it('logs the TLS handshake with protocol and cipher, after STARTTLS and on the implicit-TLS port after its connect line', async () => {
    const from = lines(gw).length;
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.starttls()).code, 220);
    await d.quit();
    const t = await SmtpDialog.connect(tlsPort, '127.0.0.1', { tls: true });
    await t.hello();
    await t.quit();
    await until(() => lines(gw).slice(from).filter((l) => l.msg === 'tls established').length >= 2, 5000, 'two handshakes');
    const all = lines(gw).slice(from);
    const shakes = all.filter((l) => l.msg === 'tls established');
    assert.deepEqual(shakes.map((l) => [l.listener, l.via, l.protocol, l.client]), [
      ['smtp', 'STARTTLS', 'TLSv1.3', '127.0.0.1'],
      ['smtps', 'implicit TLS', 'TLSv1.3', '127.0.0.1'],
    ]);
    for (const s of shakes) {
      assert.match(String(s.cipher), /^TLS_/);
      const own = sessionLines(all, s.cid).map((l) => l.msg);
      assert.equal(own[0], 'connect', `the session opens with its connect line: ${own.join(', ')}`);
      assert.ok(own.includes('tls established'));
    }
  });

  it('logs a failed STARTTLS handshake under the session\'s cid, as its connection closed line', async () => {
    const from = lines(gw).length;
    const d = await SmtpDialog.connect(gw.port);
    await d.hello();
    assert.equal((await d.cmd('STARTTLS')).code, 220);
    d.write('this is not a TLS handshake\r\n');
    const errorLine = () => lines(gw).slice(from).find((l) => l.msg === 'client connection error');
    await until(() => !!errorLine(), 5000, 'the handshake failure');
    const error = errorLine()!;
    assert.equal(error.level, 'warn');
    assert.ok(error.cid, 'with a cid');
    await until(() => sessionLines(lines(gw), error.cid).some((l) => l.msg === 'connection closed'), 5000, 'the close');
    const own = sessionLines(lines(gw), error.cid).map((l) => l.msg).filter((m) => m !== 'hook command');
    assert.deepEqual(own, ['connect', 'client connection error', 'connection closed']);
  });

  it('gives the helo, mailFrom, rcptTo and dataStart hooks the command line as the client sent it', async () => {
    const from = lines(gw).length;
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'Karma.Test' });
    assert.equal((await d.cmd('MAIL FROM: <spaced@client.example> BODY=8BITMIME')).code, 250);
    assert.equal((await d.cmd('rcpt to:<ann@open.example>')).code, 250);
    assert.equal((await d.cmd('DATA')).code, 354);
    d.write(testMessage() + '.\r\n');
    assert.equal((await d.read()).code, 250);
    await d.quit();
    await until(() => lines(gw).slice(from).some((l) => l.msg === 'hook command' && l.hook === 'dataStart'), 5000, 'the dataStart hook');
    const seen = lines(gw).slice(from).filter((l) => l.msg === 'hook command').map((l) => [l.hook, l.verb, l.line]);
    assert.deepEqual(seen, [
      ['helo', 'EHLO', 'EHLO Karma.Test'],
      ['mailFrom', 'MAIL', 'MAIL FROM: <spaced@client.example> BODY=8BITMIME'],
      ['rcptTo', 'RCPT', 'rcpt to:<ann@open.example>'],
      ['dataStart', 'DATA', 'DATA'],
    ]);
  });
});
