// What a reload applies beyond plugins and limits: log level and format, the resolver, the AUTH users file,
// server.hostname and server.proxy_protocol, each for sessions and deliveries that start after it, while a session
// open across the reload goes on as it began.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { stringify } from 'yaml';
import { createGateway, type Gateway } from '../../../core/gateway.ts';
import { loadConfig } from '../../../core/config/load.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import type { CoreResolver } from '../../../core/dns/index.ts';
import type { LogFields } from '../../../core/log/types.ts';
import { spawnGateway } from '../../helpers/gateway.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog, greeted, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const RESTART_WARNING = 'config reload: these keys change only on restart and keep their running values';

/** MAIL, RCPT and DATA on a greeted session; the reply to the final dot. */
async function send(d: SmtpDialog, to: string, subject = 'reload'): Promise<number> {
  assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
  const rcpt = await d.cmd(`RCPT TO:<${to}>`);
  assert.equal(rcpt.code, 250, rcpt.text);
  return (await d.data(testMessage({ to, subject }))).code;
}

/** The messages written to data_dir/delivered/ (the gateway has no smarthost). */
function delivered(dataDir: string): string[] {
  const dir = path.join(dataDir, 'delivered');
  try { return readdirSync(dir).filter((f) => f.endsWith('.eml')).map((f) => readFileSync(path.join(dir, f), 'latin1')); } catch { return []; }
}

const authPlain = (user: string, pass: string) => `AUTH PLAIN ${Buffer.from(`\0${user}\0${pass}`).toString('base64')}`;

/** A session through STARTTLS and EHLO again, ready for AUTH. */
async function secured(port: number): Promise<SmtpDialog> {
  const d = await SmtpDialog.connect(port);
  assert.equal((await d.hello()).code, 250);
  assert.equal((await d.starttls()).code, 220);
  assert.equal((await d.cmd('EHLO client.test')).code, 250);
  return d;
}

describe('what a reload applies', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let file: string;
  let gateway: Gateway | undefined;
  const logs: LogFields[] = [];
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-reload-keys-'));
    end = holdUntilExit({ dir });
    file = path.join(dir, 'mailmoat.yaml');
    logs.length = 0;
    gateway = undefined;
  });
  afterEach(async () => {
    await gateway?.stop();
    end();
  });

  /** An in-process gateway started from `config` written to its file. */
  async function start(config: Record<string, unknown>): Promise<Gateway> {
    writeFileSync(file, stringify(config));
    gateway = await createGateway({ config: (await loadConfig({ file })).config, configFile: file, logSink: { write() {} }, onLog: (r) => { logs.push(r); } });
    return gateway;
  }

  /** Rewrites the file and reloads it; the reload must be taken. */
  async function reloadWith(config: Record<string, unknown>): Promise<void> {
    writeFileSync(file, stringify(config));
    assert.equal(await gateway!.reload(), true);
  }

  const base = (more: Record<string, unknown> = {}) => ({
    server: { hostname: 'mx.test.example', listen: ['127.0.0.1:0'], trusted_proxies: ['127.0.0.1/32'] },
    domains: ['example.com'], data_dir: path.join(dir, 'data'), log: { level: 'info', format: 'json' }, ...more,
  });

  it('log: a SIGHUP that sets level debug and format text is obeyed by the running process; a session open across it still sends', async () => {
    const dns = await startDnsServer({ zones: { '2.0.192.in-addr.arpa': { '7': { PTR: 'one.client.test' }, '8': { PTR: 'two.client.test' } } } });
    const config = { dns: { servers: [dns.address] }, plugins: [{ name: 'ptr', mode: 'score' }], log: { level: 'info', format: 'json' } };
    const gw = await spawnGateway({ dataDir: dir, config });
    try {
      const open = await SmtpDialog.connect(gw.port);
      assert.equal((await open.hello({ xclient: { addr: '192.0.2.7' } })).code, 250);
      // A lookup before the reload: its debug line is not written at level info.
      const before = await SmtpDialog.connect(gw.port);
      await before.hello({ xclient: { addr: '192.0.2.7' } });
      assert.equal((await before.cmd('MAIL FROM:<a@client.example>')).code, 250);
      await before.quit();
      assert.doesNotMatch(gw.output.join(''), /dns lookup/);

      const raw = readFileSync(gw.configFile, 'utf8').replace(/level: info/, 'level: debug').replace(/format: json/, 'format: text');
      assert.match(raw, /level: debug/);
      writeFileSync(gw.configFile, raw);
      const mark = gw.output.join('').length;
      gw.child.kill('SIGHUP');
      await waitUntil('the reload, logged as text', () => /INFO  config reloaded/.test(gw.output.join('').slice(mark)));

      const after = await SmtpDialog.connect(gw.port);
      await after.hello({ xclient: { addr: '192.0.2.8' } });
      assert.equal((await after.cmd('MAIL FROM:<a@client.example>')).code, 250);
      await after.quit();
      await waitUntil('a debug line in text', () => /^\S+Z DEBUG dns lookup .*\bname=8\.2\.0\.192\.in-addr\.arpa /m.test(gw.output.join('').slice(mark)));
      // Lines logged before the signal may still come in after `mark`; those after the reload's own line may not.
      const all = gw.output.join('');
      const since = all.slice(all.indexOf('INFO  config reloaded'));
      assert.doesNotMatch(since, /^\{"time"/m, 'no JSON line after the reload');
      assert.doesNotMatch(since, /these keys change only on restart/);

      assert.equal(await send(open, 'user@example.com'), 250, 'the session open across the reload');
      await open.quit();
    } finally {
      await gw.kill();
      await dns.stop();
    }
  });

  it('dns: new lookups go to the new server, a lookup in flight finishes on the old one', async () => {
    const zone = (name: string) => ({ zones: { '2.0.192.in-addr.arpa': { '7': { PTR: name }, '8': { PTR: name } } } });
    const servers: DnsTestServer[] = [await startDnsServer(zone('one.client.test')), await startDnsServer(zone('two.client.test'))];
    try {
      const [first, second] = servers;
      const plugins = [{ name: 'ptr', mode: 'reject' }];
      await start(base({ dns: { servers: [first.address], timeout: '5s', tries: 1 }, plugins }));
      // The old server is slow, so the lookup of the session open across the reload is still out when it happens.
      await first.setBehaviour('2.0.192.in-addr.arpa', { delay: 1500 });
      const open = await SmtpDialog.connect(gateway!.port());
      await open.hello({ xclient: { addr: '192.0.2.7' } });
      await waitUntil('the open session\'s lookup to reach the old server', async () => (await first.queries()).length > 0, 5000);
      assert.ok(!logs.some((l) => l.msg === 'dns lookup'), 'and is still unanswered');

      await reloadWith(base({ dns: { servers: [second.address], timeout: '5s', tries: 1 }, plugins }));
      const reloaded = logs.find((l) => l.msg === 'config reloaded');
      assert.deepEqual(reloaded?.applied, ['dns']);
      assert.ok(!logs.some((l) => l.msg === RESTART_WARNING));

      const fresh = await SmtpDialog.connect(gateway!.port());
      await fresh.hello({ xclient: { addr: '192.0.2.8' } });
      const t0 = Date.now();
      assert.equal((await fresh.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.ok(Date.now() - t0 < 1000, 'the new session did not wait for the old, slow server');
      await fresh.quit();

      // The open session's lookup was answered by the old server (a PTR exists there, so MAIL FROM passes).
      assert.equal((await open.cmd('MAIL FROM:<a@client.example>')).code, 250);
      assert.equal((await open.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await open.data(testMessage())).code, 250);
      await open.quit();

      const asked = async (s: DnsTestServer) => (await s.queries()).map((q) => `${q.type} ${q.name}`);
      assert.deepEqual(await asked(first), ['PTR 7.2.0.192.in-addr.arpa']);
      assert.deepEqual(await asked(second), ['PTR 8.2.0.192.in-addr.arpa']);
      const lookups = logs.filter((l) => l.msg === 'dns lookup').map((l) => `${l.name} ${l.server}`);
      assert.deepEqual(lookups.sort(), [`7.2.0.192.in-addr.arpa ${first.address}`, `8.2.0.192.in-addr.arpa ${second.address}`].sort());
      const stats = (gateway!.runtime.services.dns as CoreResolver).stats();
      assert.equal(stats.queries, 2, 'the new resolver counts on from the old one (moat metrics)');
    } finally {
      for (const s of servers) await s.stop();
    }
  });

  it('auth: a new users file takes over for new logins; a session logged in before the reload keeps its login', async () => {
    const oldUsers = path.join(dir, 'users-old');
    const newUsers = path.join(dir, 'users-new');
    new UsersFile(oldUsers).add('olduser', 'old-secret');
    new UsersFile(newUsers).add('newuser', 'new-secret');
    await start(base({ auth: { users_file: oldUsers } }));

    const open = await secured(gateway!.port());
    assert.equal((await open.cmd(authPlain('olduser', 'old-secret'))).code, 235);

    await reloadWith(base({ auth: { users_file: newUsers } }));
    assert.deepEqual(logs.find((l) => l.msg === 'config reloaded')?.applied, ['auth']);
    assert.ok(!logs.some((l) => l.msg === RESTART_WARNING));

    const fresh = await secured(gateway!.port());
    assert.equal((await fresh.cmd(authPlain('newuser', 'new-secret'))).code, 235, 'the new file\'s user');
    await fresh.quit();
    const stale = await secured(gateway!.port());
    assert.equal((await stale.cmd(authPlain('olduser', 'old-secret'))).code, 535, 'the old file\'s user');
    await stale.quit();

    // Relaying to a foreign domain needs the login the session made before the reload.
    assert.equal(await send(open, 'someone@elsewhere.example'), 250);
    await open.quit();
  });

  it('server.hostname: new sessions are greeted with the new name, and new mail, relay HELO and notices carry it; a session open across it keeps the old name in its mail', async () => {
    // A next hop recording the HELO name of every message and refusing one recipient, so a notice is made.
    const helos: string[] = [];
    const received: string[] = [];
    const hop = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], disableReverseLookup: true, logger: false,
      onRcptTo(addr, _s, cb) {
        if (addr.address.startsWith('refused@')) return cb(Object.assign(new Error('5.1.1 no such user'), { responseCode: 550 }));
        cb();
      },
      onData(stream, session, cb) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => { helos.push(session.hostNameAppearsAs); received.push(Buffer.concat(chunks).toString('latin1')); cb(); });
      },
    });
    await new Promise<void>((r) => hop.listen(0, '127.0.0.1', () => r()));
    const hopPort = (hop as unknown as { server: { address(): { port: number } } }).server.address().port;
    try {
      const users = path.join(dir, 'users');
      new UsersFile(users).add('submitter', 'secret');
      const config = (hostname: string) => base({
        server: { hostname, listen: ['127.0.0.1:0'], trusted_proxies: ['127.0.0.1/32'] }, smarthost: `smtp://127.0.0.1:${hopPort}`,
        auth: { users_file: users },
      });
      await start(config('mx-one.test.example'));
      const open = await SmtpDialog.connect(gateway!.port());
      assert.match((await open.read()).text, /^mx-one\.test\.example /);
      // A submitter's message without a Message-ID gets one in the name of the gateway that greeted it.
      const submitter = await secured(gateway!.port());
      assert.equal((await submitter.cmd(authPlain('submitter', 'secret'))).code, 235);

      await reloadWith(config('mx-two.test.example'));
      assert.deepEqual(logs.find((l) => l.msg === 'config reloaded')?.applied, ['server.hostname']);
      assert.ok(!logs.some((l) => l.msg === RESTART_WARNING));
      assert.equal(gateway!.runtime.config.server.hostname, 'mx-two.test.example');

      const fresh = await SmtpDialog.connect(gateway!.port());
      assert.match((await fresh.read()).text, /^mx-two\.test\.example /, 'the greeting of a new session');
      const ehlo = await fresh.cmd('EHLO client.test');
      assert.match(ehlo.lines[0], /^mx-two\.test\.example /);
      assert.equal((await fresh.cmd('MAIL FROM:<sender@example.com>')).code, 250);
      assert.equal((await fresh.cmd('RCPT TO:<user@example.com>')).code, 250);
      assert.equal((await fresh.cmd('RCPT TO:<refused@example.com>')).code, 250);
      assert.equal((await fresh.data(testMessage({ subject: 'after the reload' }))).code, 250);
      await fresh.quit();

      // The session greeted before the reload keeps the name it was greeted with, and is not broken.
      const oldEhlo = await open.cmd('EHLO client.test');
      assert.equal(oldEhlo.code, 250);
      assert.match(oldEhlo.lines[0], /^mx-one\.test\.example /);
      assert.equal(await send(open, 'other@example.com', 'open across the reload'), 250);
      await open.quit();
      assert.equal((await submitter.cmd('MAIL FROM:<submitter@example.com>')).code, 250);
      assert.equal((await submitter.cmd('RCPT TO:<user@example.com>')).code, 250);
      const noMessageId = testMessage({ subject: 'submitted across the reload' }).replace(/^Message-ID: .*\r\n/m, '');
      assert.equal((await submitter.data(noMessageId)).code, 250);
      await submitter.quit();

      await waitUntil('the message, the notice and the open sessions\' messages', () => received.length >= 4, 20_000);
      const mail = received.find((m) => /Subject: after the reload/.test(m))!;
      assert.match(mail, /^Received: from client\.test \(.*\)\r\n\tby mx-two\.test\.example \(Mailmoat\)/m);
      // Sessions greeted before the reload: their Received line and Message-ID name the gateway that greeted them.
      const openMail = received.find((m) => /Subject: open across the reload/.test(m))!;
      assert.match(openMail, /^Received: from client\.test \(.*\)\r\n\tby mx-one\.test\.example \(Mailmoat\)/m);
      const submitted = received.find((m) => /Subject: submitted across the reload/.test(m))!;
      assert.match(submitted, /^Received: from client\.test \(.*\)\r\n\tby mx-one\.test\.example \(Mailmoat\) with ESMTPSA /m);
      assert.match(submitted, /^Message-ID: <[^>]+@mx-one\.test\.example>\r\n/m);
      const notice = received.find((m) => /Reporting-MTA: dns; /.test(m));
      assert.ok(notice, 'a failure notice for refused@example.com');
      assert.match(notice, /Reporting-MTA: dns; mx-two\.test\.example/);
      assert.deepEqual([...new Set(helos)], ['mx-two.test.example'], 'every delivery after the reload says HELO with the new name');
    } finally {
      // The gateway first: the next hop's close waits for the connections of the gateway's pool to end.
      await gateway?.stop();
      gateway = undefined;
      await new Promise<void>((r) => hop.close(() => r()));
    }
  });

  it('a refused reload applies none of them: the name, the log level, the users file stay', async () => {
    const written: string[] = [];
    const oldUsers = path.join(dir, 'users-old');
    new UsersFile(oldUsers).add('olduser', 'old-secret');
    writeFileSync(file, stringify(base({ auth: { users_file: oldUsers } })));
    gateway = await createGateway({ config: (await loadConfig({ file })).config, configFile: file, logSink: { write: (l) => { written.push(l); } } });
    const next = base({ auth: { users_file: path.join(dir, 'users-new') }, log: { level: 'debug', format: 'json' }, access: { helo_deny: ['(unclosed'] } });
    writeFileSync(file, stringify({ ...next, server: { hostname: 'mx-two.test.example', listen: ['127.0.0.1:0'] } }));
    assert.equal(await gateway.reload(), false);

    const d = await secured(gateway.port());
    assert.equal((await d.cmd(authPlain('olduser', 'old-secret'))).code, 235, 'the running users file');
    await d.quit();
    const g = await SmtpDialog.connect(gateway.port());
    assert.match((await g.read()).text, /^mx\.test\.example /);
    await g.quit();
    gateway.runtime.log.debug('a debug line after the refused reload');
    gateway.runtime.log.info('an info line after the refused reload');
    const lines = written.join('').trim().split('\n').map((l) => JSON.parse(l) as LogFields);
    assert.ok(lines.some((l) => l.msg === 'config reload refused: the running config is kept'));
    assert.ok(lines.some((l) => l.msg === 'an info line after the refused reload'));
    assert.ok(!lines.some((l) => l.msg === 'a debug line after the refused reload'), 'still at level info');
  });

  it('server.proxy_protocol: turned on and off by a reload for new connections; a session open across it is not broken', async () => {
    const config = (proxy: boolean) => base({ server: { hostname: 'mx.test.example', listen: ['127.0.0.1:0'], trusted_proxies: ['127.0.0.1/32'], proxy_protocol: proxy } });
    await start(config(false));
    const open = await greeted(gateway!.port());

    await reloadWith(config(true));
    assert.deepEqual(logs.find((l) => l.msg === 'config reloaded')?.applied, ['server.proxy_protocol']);
    assert.ok(!logs.some((l) => l.msg === RESTART_WARNING));
    const proxied = await SmtpDialog.connect(gateway!.port());
    proxied.write('PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n');
    assert.equal((await proxied.hello()).code, 250);
    assert.equal(await send(proxied, 'user@example.com', 'through the proxy'), 250);
    await proxied.quit();
    assert.equal(await send(open.d, 'user@example.com', 'open across the reload'), 250);

    await reloadWith(config(false));
    const direct = await SmtpDialog.connect(gateway!.port());
    const greeting = await direct.read(3000);
    assert.equal(greeting.code, 220, 'greeted without a PROXY header');
    await direct.quit();
    await open.d.quit();

    await waitUntil('the delivered files', () => delivered(path.join(dir, 'data')).length >= 2);
    const viaProxy = delivered(path.join(dir, 'data')).find((m) => /Subject: through the proxy/.test(m))!;
    assert.match(viaProxy, /\[192\.0\.2\.7\]/, 'the client address the PROXY header gave');
  });
});
