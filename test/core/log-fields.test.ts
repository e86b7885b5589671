// Log lines a typed log store can take and that keep no secret: a field has one meaning and one type in every line
// (the client's address is `client`, the sender `from`, the recipients `to`, always a list; greylisting's network is
// `network`, a control request's `result` a word), an HTTP request refused by allow_from is logged at info, a path
// no route knows is logged without what may be a ticket, and the README's fail2ban filter finds the clients to ban
// in real lines, with fail2ban's own fail2ban-regex.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { ensureCommands } from '../helpers/system-packages.ts';
import { waitUntil } from '../helpers/wait-for.ts';
import { UsersFile } from '../../core/auth/users-file.ts';
import { controlRequest } from '../../core/control/client.ts';
import { socketPath } from '../../core/control/protocol.ts';
import { resultFields } from '../../core/control/server.ts';
import { unknownPathForLog } from '../../core/http/server.ts';

const README = path.resolve(import.meta.dirname, '..', '..', 'README.md');

/** The fail2ban filter as the README gives it (the `ini` block that has a failregex). */
function readmeFilter(): string {
  const block = /```ini\n((?:[ \t]*\[Definition\]\n)(?:.*\n)*?)[ \t]*```/.exec(readFileSync(README, 'utf8'));
  assert.ok(block && /failregex/.test(block[1]), 'the README has a fail2ban filter');
  return block[1].replace(/^[ \t]+/gm, '');
}

/** A value's type as a typed log store sees it: JSON's types, a list apart from an object. */
function typeOf(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'list' : typeof value;
}

/** A GET from `localAddress` (a loopback address of its own), answered with its status. */
function get(port: number, target: string, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, localAddress }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject);
  });
}

describe('log fields: one name and type each, nothing secret', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let httpPort: number;
  before(async () => {
    gw = await startGateway({
      config: {
        // Long enough that the early talker below talks before it, however loaded the machine.
        server: { submission_listen: ['127.0.0.1:0'], greeting_delay: 500 },
        http: { listen: ['127.0.0.1:0'], allow_from: ['127.0.0.1/32'] },
        plugins: [{ name: 'greylist', delay: '5m', retry_window: '1h' }],
      },
    });
    new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
    httpPort = gw.gateway.admin!.addresses[0].port;
  });
  after(async () => { await gw?.stop(); });

  it('logs a request refused by http.allow_from at info, with why', async () => {
    assert.equal(await get(httpPort, '/metrics', '127.0.0.2'), 403);
    const line = gw.logs.find((l) => l.msg === 'http request' && l.status === 403);
    assert.ok(line);
    assert.deepEqual([line.level, line.client, line.path, line.reason], ['info', '127.0.0.2', '/metrics', 'not in http.allow_from']);
    assert.equal(await get(httpPort, '/metrics'), 200);
    assert.equal(gw.logs.find((l) => l.msg === 'http request' && l.status === 200)?.level, 'debug', 'an answered request stays at debug');
  });

  it('logs an unknown path without what may be a ticket or token', async () => {
    const ticket = 'eyJpZCI6InF1YXJhbnRpbmVkIn0.c2lnbmF0dXJlLW9mLXRoZS10aWNrZXQ';
    assert.equal(await get(httpPort, `/quarantine/${ticket}`), 404);
    assert.equal(await get(httpPort, `/${ticket}`), 404);
    assert.equal(await get(httpPort, '/nothing-here'), 404);
    const paths = gw.logs.filter((l) => l.msg === 'http request' && l.status === 404).map((l) => l.path);
    assert.deepEqual(paths, ['/quarantine/…', '/*', '/nothing-here']);
    assert.ok(!JSON.stringify(gw.logs).includes(ticket.slice(0, 20)), 'the ticket is in no line');
    assert.deepEqual([unknownPathForLog('/'), unknownPathForLog('/a%2Fb'), unknownPathForLog('/release/x/y')], ['/', '/*', '/release/…']);
  });

  it('names the greylisted client network `network`, never `client` (an IP elsewhere), and the envelope `from` and `to`', async () => {
    const c = await SmtpDialog.connect(gw.port);
    try {
      await c.hello();
      await c.cmd('MAIL FROM:<sender@client.example>');
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 451);
      // Postmaster is never greylisted: its debug line names the recipient as every other line does.
      assert.equal((await c.cmd('RCPT TO:<postmaster@example.com>')).code, 250);
    } finally { await c.quit(); }
    const line = gw.logs.find((l) => l.msg === 'greylisted');
    assert.ok(line);
    assert.equal(line.network, '127.0.0.0/24');
    assert.ok(!('client' in line));
    assert.deepEqual([line.from, line.to, 'sender' in line, 'rcpt' in line], ['sender@client.example', ['user@example.com'], false, false]);
    const skipped = gw.logs.find((l) => l.msg === 'greylist skipped');
    assert.deepEqual([skipped?.to, skipped?.reason, 'rcpt' in (skipped ?? {})], [['postmaster@example.com'], 'recipient', false]);
  });

  it('names the client `client` on a session\'s connect and connection closed lines, as on its refusals', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.equal((await c.cmd('RCPT TO:<someone@elsewhere.example>')).code, 554);
    await c.quit();
    const refused = gw.logs.find((l) => l.msg === 'recipient refused' && String(l.to) === 'someone@elsewhere.example');
    assert.ok(refused);
    assert.equal(refused.client, '127.0.0.1');
    await waitUntil('the connection closed line', () => gw.logs.some((l) => l.cid === refused.cid && l.msg === 'connection closed'));
    const session = gw.logs.filter((l) => l.cid === refused.cid && (l.msg === 'connect' || l.msg === 'connection closed'));
    assert.deepEqual(session.map((l) => [l.msg, l.client, 'ip' in l]), [['connect', '127.0.0.1', false], ['connection closed', '127.0.0.1', false]]);
  });

  it('gives a recipient named by a control request as a list, and a --to selection as `domain` or `to`', async () => {
    const control = (req: Record<string, unknown>) => controlRequest(socketPath(gw.dataDir), req as never, 10_000).catch(() => undefined);
    await control({ op: 'recipient', action: 'release', id: 'a'.repeat(16), address: 'ann@example.com' });
    await control({ op: 'delete', id: 'b'.repeat(16), to: 'example.org' });
    await control({ op: 'delete', id: 'c'.repeat(16), to: 'bob@example.org' });
    const lines = gw.logs.filter((l) => l.msg === 'control request' && (l.op === 'recipient' || l.op === 'delete'));
    assert.deepEqual(lines.map((l) => [l.op, l.to, l.domain]), [
      ['recipient', ['ann@example.com'], undefined], ['delete', undefined, 'example.org'], ['delete', ['bob@example.org'], undefined],
    ]);
  });

  it('gives a control request\'s `result` as a word in every line, a count beside it', async () => {
    await controlRequest(socketPath(gw.dataDir), { op: 'flush' }, 10_000);
    const flush = gw.logs.find((l) => l.msg === 'control request' && l.op === 'flush');
    assert.ok(flush);
    assert.deepEqual([flush.result, flush.count], ['done', 0]);
    assert.deepEqual(resultFields({ reloaded: false, file: '/etc/m.yaml', errors: ['limits.x: unknown key'] }), { result: 'refused', file: '/etc/m.yaml', errors: ['limits.x: unknown key'] });
    const reloaded = resultFields({ reloaded: true, changed: ['log.level'], restartOnly: [], plugins: ['greylist'] });
    assert.deepEqual([reloaded.result, reloaded.changed, reloaded.restart_only], ['reloaded', ['log.level'], []]);
    assert.equal(resultFields('missing').result, 'missing');
  });

  it('has a fail2ban filter in the README that finds the clients to ban by their `client`, never by what a client wrote', async function () {
    this.timeout(120_000);
    ensureCommands({ 'fail2ban-regex': 'fail2ban' });
    // A guesser whose user name carries a field of its own making; its right login after is no failure.
    const guesser = await SmtpDialog.connect(gw.gateway.port('submission'), '127.0.0.1', { localAddress: '127.0.0.3' });
    await guesser.hello();
    assert.equal((await guesser.starttls()).code, 220);
    await guesser.cmd('EHLO guesser.test');
    const plain = (user: string, pass: string) => `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`;
    assert.equal((await guesser.cmd(plain('x","client":"203.0.113.9', 'wrong'))).code, 535);
    assert.equal((await guesser.cmd(plain('alice', 'wrong'))).code, 535);
    assert.equal((await guesser.cmd(plain('alice', 'right-password'))).code, 235);
    await guesser.quit();
    // A client that talks before the greeting (server.greeting_delay), which smtp-server drops itself.
    const early = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.5' });
    early.write('EHLO early.test\r\n');
    assert.match((await early.read()).text, /talk too soon/);
    early.hangUp();
    // A client dropped at limits.max_errors (10): ten relay attempts refused, the command after them ends the session.
    const erring = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.0.0.4' });
    await erring.hello();
    await erring.cmd('MAIL FROM:<a@client.example>');
    for (let i = 0; i < 10; i++) assert.equal((await erring.cmd(`RCPT TO:<r${i}@elsewhere.example>`)).code, 554);
    assert.match((await erring.cmd('RCPT TO:<r10@elsewhere.example>')).text, /Too many errors/);
    erring.hangUp();
    await waitUntil('the three lines to ban on', () => ['authentication failed', 'client refused: talked before the greeting', 'too many errors: disconnecting']
      .every((msg) => gw.logs.some((l) => l.msg === msg)));

    // Each record as its JSON line: the logger writes { time, level, msg, ...fields } in this order, as it hands them on.
    const lines = path.join(gw.dataDir, 'mailmoat.log');
    writeFileSync(lines, gw.logs.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const filter = path.join(gw.dataDir, 'mailmoat-filter.conf');
    writeFileSync(filter, readmeFilter());
    const { stdout } = await promisify(execFile)('fail2ban-regex', ['-o', 'ip', lines, filter], { timeout: 60_000 });
    assert.deepEqual(stdout.trim().split('\n').sort(), ['127.0.0.3', '127.0.0.3', '127.0.0.4', '127.0.0.5'],
      'both failed logins, the early talker and the client dropped at max_errors; not the login, not the forged address');
  });

  it('gives every field of every line these sessions logged one type, `to` a list, and no `ip`, `remote`, `sender` or `rcpt`', async () => {
    // A refused reload's `errors` is a list, beside the sessions' `error_count`.
    assert.equal(await gw.gateway.reload({ limits: { max_errors: 'many' } } as never), false);
    assert.ok(gw.logs.some((l) => l.msg === 'config reload refused: the running config is kept' && Array.isArray(l.errors)));
    assert.ok(gw.logs.length > 50);
    const seen = new Map<string, Map<string, string>>();
    for (const l of gw.logs) {
      if ('to' in l) assert.ok(Array.isArray(l.to), `${l.msg}: to ${JSON.stringify(l.to)}`);
      for (const other of ['ip', 'remote', 'sender', 'rcpt']) assert.ok(!(other in l), `${l.msg}: ${other}`);
      for (const [name, value] of Object.entries(l)) {
        // A field with no value is not written.
        if (value === undefined) continue;
        const types = seen.get(name) ?? new Map<string, string>();
        if (!types.has(typeOf(value))) types.set(typeOf(value), String(l.msg));
        seen.set(name, types);
      }
    }
    const mixed = [...seen].filter(([, types]) => types.size > 1).map(([name, types]) => `${name}: ${[...types].map(([t, msg]) => `${t} (${msg})`).join(', ')}`);
    assert.deepEqual(mixed, []);
    assert.ok(gw.logs.some((l) => l.msg === 'greylist skipped') && gw.logs.some((l) => l.msg === 'greylisted'), 'greylisting\'s lines are among them');
  });
});
