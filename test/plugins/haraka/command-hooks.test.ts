// Haraka's capabilities, unrecognized_command, noop, vrfy, rset and quit hooks over SMTP: a plain plugin, and karma's scoring.
import assert from 'node:assert/strict';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, greeted } from '../../helpers/smtp-dialog.ts';
import { FIXTURE, startWorld, IP, type ShimWorld } from './setup.ts';
import { until } from '../../core/queue/send.ts';

describe('haraka shim: command hooks of a plain plugin', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { plugins: [{ name: 'haraka', dir: path.join(FIXTURE, 'commands') }] } });
  });
  after(async () => { await gw.stop(); });

  it('capabilities: connection.capabilities edits (push, replace the array) reach the EHLO reply', async () => {
    const { d, ehlo } = await greeted(gw.port);
    assert.ok(ehlo.includes('XHARAKA ON'), ehlo.join('|'));
    assert.ok(!ehlo.includes('8BITMIME'), ehlo.join('|'));
    assert.ok(ehlo.includes('PIPELINING'));
    assert.match(ehlo[0], /mx\.test\.example/); // the greeting line stays Mailmoat's
    await d.quit();
  });

  it('unrecognized_command: OK sends what the plugin respond()ed; DENY 500 with its text; DENYSOFT and CONT get the default 500', async () => {
    const { d } = await greeted(gw.port);
    const ping = await d.cmd('xping hello there');
    assert.equal(ping.code, 250);
    assert.match(ping.text, /pong hello there \(xping\)/); // the verb reaches the plugin as typed
    const deny = await d.cmd('XDENY');
    assert.equal(deny.code, 500);
    assert.match(deny.text, /not here/);
    assert.equal((await d.cmd('XSOFT')).code, 500);
    assert.equal((await d.cmd('XNOTHING')).code, 500);
    await d.quit();
  });

  it('unrecognized_command: DENYDISCONNECT answers 521 and closes', async () => {
    const { d } = await greeted(gw.port);
    const r = await d.cmd('XDROP');
    assert.equal(r.code, 521);
    assert.match(r.text, /Unrecognized command/);
    await until(() => d.closed, 2000, 'close');
    assert.ok(d.closed);
  });

  it('noop: CONT keeps 250, DENY answers 500 (Stop wasting my time)', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('NOOP')).code, 250);
    assert.equal((await d.cmd('NOOP')).code, 250);
    const third = await d.cmd('NOOP');
    assert.equal(third.code, 500);
    assert.match(third.text, /Stop wasting my time/);
    await d.quit();
  });

  it('vrfy: OK 250 with the message, DENY 550 Access Denied, DENYSOFT 450 Lookup Failed, CONT 252', async () => {
    const { d } = await greeted(gw.port);
    const ok = await d.cmd('VRFY known@example.com');
    assert.equal(ok.code, 250);
    assert.match(ok.text, /known user/);
    const deny = await d.cmd('VRFY secret@example.com');
    assert.equal(deny.code, 550);
    assert.match(deny.text, /Access Denied/);
    const soft = await d.cmd('VRFY later@example.com');
    assert.equal(soft.code, 450);
    assert.match(soft.text, /Lookup Failed/);
    assert.equal((await d.cmd('VRFY someone@example.com')).code, 252);
    await d.quit();
  });

  it('rset and quit: the plugin counts RSETs and its quit message becomes the 221 text', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('RSET')).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    assert.equal((await d.cmd('RSET')).code, 250);
    assert.equal((await d.cmd('NOOP')).code, 250);
    const q = await d.cmd('QUIT');
    assert.equal(q.code, 221);
    assert.match(q.text, /bye after 2 rsets and 1 noops/);
  });
});

describe('haraka shim: karma scores unrecognized commands through unrecognized_command', function () {
  this.timeout(30_000);
  let world: ShimWorld;
  let gw: TestGateway;

  before(async () => {
    world = await startWorld();
    gw = await startGateway({
      config: {
        domains: ['example.test'],
        dns: { servers: [world.dns.address], timeout: '500ms', tries: 1 },
        limits: { max_errors: 50 },
        plugins: [{ name: 'haraka', dir: world.dir, dns_servers: [world.dns.address], timeout: '20s' }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await world?.stop();
  });

  it('each unknown verb costs a karma point; past the negative threshold karma itself refuses them, and then the DATA command', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'mail.example.org', xclient: { addr: IP.clean, helo: 'mail.example.org' } });
    const replies: string[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await d.cmd(`XJUNK${i}`);
      assert.equal(r.code, 500);
      replies.push(r.text);
    }
    // the first ones get the front door's 500, later ones karma's own DENY
    assert.doesNotMatch(replies[0], /karma/);
    assert.ok(replies.some((t) => /very bad karma score/.test(t)), replies.join(' | '));
    // the same score makes karma refuse the DATA command (data is in its deny_hooks)
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    const data = await d.cmd('DATA');
    assert.equal(data.code, 554, data.text);
    assert.match(data.text, /very bad karma score: -\d+/);
    await d.quit();
  });

  it('karma leaves a NOOP and VRFY of a clean client alone', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'mail.example.org', xclient: { addr: IP.clean, helo: 'mail.example.org' } });
    assert.equal((await d.cmd('NOOP')).code, 250);
    assert.equal((await d.cmd('VRFY bob@example.test')).code, 252);
    await d.quit();
  });
});
