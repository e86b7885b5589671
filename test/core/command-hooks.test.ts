// The capabilities hook and the NOOP/VRFY/RSET/QUIT/unknown-verb hooks over real SMTP, with and without a plugin that has them.
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog, greeted } from '../helpers/smtp-dialog.ts';
import { chainHooks, commandReply, parseCommand } from '../../core/smtp/command-hooks.ts';
import { until } from './queue/send.ts';

const FIXTURE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/plugins/command-hooks.ts');

describe('command hooks: no plugin has them', () => {
  let gw: TestGateway;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw.stop(); });

  it('keeps smtp-server\'s own answers: EHLO keywords, NOOP 250, VRFY 252, RSET 250, unknown 500 5.5.2, QUIT 221', async () => {
    const { d, ehlo } = await greeted(gw.port);
    assert.ok(ehlo.includes('PIPELINING'));
    assert.ok(ehlo.some((k) => k.startsWith('SIZE ')));
    assert.ok(!ehlo.some((k) => k.startsWith('XTEST')));
    assert.equal((await d.cmd('NOOP')).code, 250);
    const v = await d.cmd('VRFY bob@example.com');
    assert.equal(v.code, 252);
    assert.equal((await d.cmd('RSET')).code, 250);
    const u = await d.cmd('XFOO bar');
    assert.equal(u.code, 500);
    assert.match(u.text, /^5\.5\.2 /);
    const q = await d.cmd('QUIT');
    assert.equal(q.code, 221);
  });

  it('a chain without the hooks reports none of them, so the front door never runs them', () => {
    const hooks = chainHooks(gw.gateway.runtime.plugins);
    for (const h of ['capabilities', 'noop', 'vrfy', 'rset', 'quit', 'unrecognizedCommand'] as const) assert.ok(!hooks.has(h), h);
  });
});

describe('command hooks: a plugin answers them', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { plugins: [{ name: 'command-hooks', module: FIXTURE }], limits: { max_errors: 3 } } });
  });
  after(async () => { await gw.stop(); });

  it('capabilities: the plugin adds a keyword and removes SIZE from the EHLO reply', async () => {
    const { d, ehlo } = await greeted(gw.port);
    assert.match(ehlo[0], /mx\.test\.example/);
    assert.ok(ehlo.includes('XTEST ONE TWO'), ehlo.join('|'));
    assert.ok(!ehlo.some((k) => k.startsWith('SIZE')), ehlo.join('|'));
    assert.ok(ehlo.includes('PIPELINING'));
    await d.quit();
  });

  it('capabilities do not touch HELO, and a bad EHLO name still gets smtp-server\'s 501', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.read();
    assert.equal((await d.cmd('EHLO')).code, 501);
    const h = await d.cmd('HELO client.test');
    assert.equal(h.code, 250);
    assert.equal(h.lines.length, 1);
    await d.quit();
  });

  it('noop: continue keeps 250, reject answers 500 5.5.1, accept its own text; pipelined NOOPs keep their order', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('NOOP')).code, 250);
    const rej = await d.cmd('NOOP reject');
    assert.equal(rej.code, 500);
    assert.equal(rej.text, '5.5.1 No idling here');
    const acc = await d.cmd('NOOP accept');
    assert.equal(acc.code, 250);
    assert.equal(acc.text, '2.0.0 Idle noted');
    d.write('NOOP slow\r\nNOOP accept\r\n');
    assert.equal((await d.read()).text, '2.0.0 OK');
    assert.equal((await d.read()).text, '2.0.0 Idle noted');
    await d.quit();
  });

  it('vrfy: accept 250, reject 550, tempfail 450, continue 252; a bare VRFY still gets 501', async () => {
    const { d } = await greeted(gw.port);
    const ok = await d.cmd('VRFY known@example.com');
    assert.equal(ok.code, 250);
    assert.equal(ok.text, '2.1.5 <known@example.com>');
    assert.equal((await d.cmd('VRFY secret@example.com')).code, 550);
    const t = await d.cmd('VRFY later@example.com');
    assert.equal(t.code, 450);
    assert.match(t.text, /^4\.7\.1 Lookup failed/);
    assert.equal((await d.cmd('VRFY nobody@example.com')).code, 252);
    assert.equal((await d.cmd('VRFY')).code, 501);
    await d.quit();
  });

  it('rset: the plugin sees it, its text replaces the reply, and the transaction is still reset', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('MAIL FROM:<a@client.example>')).code, 250);
    const r = await d.cmd('RSET custom');
    assert.equal(r.code, 250);
    assert.equal(r.text, '2.0.0 Reset by plugin');
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 503); // no MAIL any more
    assert.equal((await d.cmd('RSET')).code, 250);
    const seen = await d.cmd('XSEEN');
    assert.equal(seen.text, '2.0.0 rset,rset,unknown:XSEEN');
    await d.quit();
  });

  it('unrecognizedCommand: handled verbs get the plugin\'s reply (any 2xx/3xx), others the 500; the line keeps its case', async () => {
    const { d } = await greeted(gw.port);
    const hi = await d.cmd('xhello World');
    assert.equal(hi.code, 250);
    assert.equal(hi.text, '2.0.0 hello World');
    const cont = await d.cmd('XCONT');
    assert.equal(cont.code, 334);
    assert.equal(cont.text, 'go on');
    const rej = await d.cmd('XDENY');
    assert.equal(rej.code, 500);
    assert.equal(rej.text, '5.5.2 Denied by plugin');
    assert.equal((await d.cmd('XOTHER')).code, 500);
    const seen = await d.cmd('XSEEN');
    assert.match(seen.text, /unknown:xhello World,unknown:XCONT,unknown:XDENY,unknown:XOTHER,unknown:XSEEN/);
    await d.quit();
  });

  it('unrecognizedCommand: a disconnect outcome answers 421 and closes', async () => {
    const { d } = await greeted(gw.port);
    const r = await d.cmd('XBYE');
    assert.equal(r.code, 421);
    assert.match(r.text, /Bye from plugin/);
    await until(() => d.closed, 2000, 'close');
    assert.ok(d.closed);
  });

  it('refusals count as errors: past limits.max_errors the client is dropped', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('XDENY')).code, 500);
    assert.equal((await d.cmd('XDENY')).code, 500);
    assert.equal((await d.cmd('XDENY')).code, 500, 'the refusal that reaches the limit, as it is');
    const last = await d.cmd('XDENY');
    assert.equal(last.code, 421);
    await until(() => d.closed, 2000, 'close');
    assert.ok(d.closed);
  });

  it('quit: the plugin\'s text replaces the 221 and the connection closes', async () => {
    const { d } = await greeted(gw.port);
    assert.equal((await d.cmd('NOOP custom-quit')).code, 250);
    const q = await d.cmd('QUIT');
    assert.equal(q.code, 221);
    assert.equal(q.text, '2.0.0 See you later');
    await until(() => d.closed, 2000, 'close');
    assert.ok(d.closed);
  });

  it('reports the hooks of the chain', () => {
    const hooks = chainHooks(gw.gateway.runtime.plugins);
    for (const h of ['capabilities', 'noop', 'vrfy', 'rset', 'quit', 'unrecognizedCommand'] as const) assert.ok(hooks.has(h), h);
  });
});

describe('greeting: the early-talker pause and the connect hooks overlap', () => {
  let gw: TestGateway;
  before(async () => {
    // no trusted proxy: the loopback client itself is checked at connect
    gw = await startGateway({ config: { server: { trusted_proxies: [] }, plugins: [{ name: 'command-hooks', module: FIXTURE, connect_delay: 300 }] } });
  });
  after(async () => { await gw.stop(); });

  it('a slow connect hook delays the greeting by its own time only, not by the pause on top', async () => {
    const start = performance.now();
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.read()).code, 220);
    const ms = performance.now() - start;
    assert.ok(ms >= 295 && ms < 390, `greeting after ${ms.toFixed(0)} ms`);
    await d.quit();
  });

  it('a client that talks before the greeting is still refused as an early talker', async () => {
    const d = await SmtpDialog.connect(gw.port);
    d.write('EHLO hasty.test\r\n');
    const first = await d.read();
    assert.equal(first.code, 421);
    assert.match(first.text, /too soon/);
    await d.quit();
  });
});

describe('greeting without plugins', () => {
  let gw: TestGateway;
  before(async () => { gw = await startGateway(); });
  after(async () => { await gw.stop(); });

  it('keeps smtp-server\'s 100 ms pause before the greeting', async () => {
    const start = performance.now();
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.read()).code, 220);
    assert.ok(performance.now() - start >= 95);
    await d.quit();
  });
});

describe('greeting delay setting', () => {
  // 0 ms must come in under smtp-server's own 100 ms pause; 400 ms must hold the greeting back at least that long.
  for (const [setting, least, most] of [['0ms', 0, 95], ['400ms', 395, 900]] as const) {
    it(`server.greeting_delay: ${setting} greets after ${least}–${most} ms`, async () => {
      const gw = await startGateway({ config: { server: { greeting_delay: setting } } });
      try {
        const start = performance.now();
        const d = await SmtpDialog.connect(gw.port);
        assert.equal((await d.read()).code, 220);
        const ms = performance.now() - start;
        assert.ok(ms >= least && ms < most, `greeting after ${ms.toFixed(0)} ms`);
        await d.quit();
      } finally { await gw.stop(); }
    });
  }
});

describe('command hooks: replies and parsing', () => {
  it('parses the verb upper-cased and keeps the arguments as sent', () => {
    assert.deepEqual(parseCommand('vrfy  Bob Smith'), { verb: 'VRFY', args: 'Bob Smith', line: 'vrfy  Bob Smith' });
    assert.deepEqual(parseCommand('NOOP'), { verb: 'NOOP', args: '', line: 'NOOP' });
  });

  it('answers with the outcome\'s own codes, or the command\'s defaults', () => {
    // A code of the wrong class never gets here: the runner answers 451 4.3.0 for it (test/core/hooks/outcome-problem.test.ts).
    assert.deepEqual(commandReply('noop', { action: 'reject', text: 'x' }), { code: 500, text: '5.5.1 x', close: false });
    assert.deepEqual(commandReply('vrfy', { action: 'reject', code: 553, enhanced: '5.1.3', text: 'x' }), { code: 553, text: '5.1.3 x', close: false });
    assert.equal(commandReply('quit', { action: 'continue' }), undefined);
  });
});
