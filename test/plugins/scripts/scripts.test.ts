// Filter scripts end to end: real SMTP sessions into a gateway, scripts in real sandbox processes, a recording smarthost.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

/** One script that misbehaves as the Subject says, and answers nothing for any other message. */
const HOSTILE = (port: number) => `
module.exports = function (m) {
  switch (m.subject) {
    case 'sync-loop': while (true) {}
    case 'async-loop': return (async () => { for (;;) await null; })();
    case 'heap-bomb': { const a = []; for (;;) a.push({ s: 'x'.repeat(64) + a.length }); }
    case 'require-fs': return { findings: [{ symbol: 'FS', score: 0, detail: String(require('fs').readFileSync('/etc/passwd')) }] };
    case 'process-exit': process.exit(0); return null;
    case 'read-passwd': {
      const p = m.constructor.constructor('return process')();
      return { findings: [{ symbol: 'PASSWD', score: 0, detail: String(p.getBuiltinModule('fs').readFileSync('/etc/passwd')) }] };
    }
    case 'open-socket': {
      const tries = [
        () => fetch('http://127.0.0.1:${port}/'),
        () => require('net').connect(${port}, '127.0.0.1'),
        () => import('node:net').then((n) => n.connect(${port}, '127.0.0.1')),
        () => this.constructor.constructor('return process')().getBuiltinModule('net').connect(${port}, '127.0.0.1'),
      ];
      const errors = [];
      for (const t of tries) { try { t(); } catch (e) { errors.push(e.name); } }
      throw new Error('no way out: ' + errors.join(','));
    }
    case 'ctor-escape': return this.constructor.constructor('return process')().exit(1);
    default: return null;
  }
};
`;

const SCORE = `module.exports = (m) => /viagra/i.test(m.text) ? { findings: [{ symbol: 'pills', score: 6.5, detail: 'pills in the text' }] } : null;`;
const HEADER = `module.exports = async (m) => ({ addHeaders: [{ name: 'X-Script-Checked', value: 'from=' + m.envelope.from + '; to=' + m.envelope.to.join(',') + '; ip=' + m.client.ip + '; subject=' + m.header('subject') }] });`;
const REJECT = `module.exports = (m) => m.subject.includes('REJECTME') ? { action: { type: 'reject', text: 'No thanks', code: 554 } } : undefined;`;
const ACTIONS = `module.exports = (m) => {
  if (m.subject === 'hold-me') return { action: { type: 'quarantine', text: 'looks odd' } };
  if (m.subject === 'drop-me') return { action: { type: 'discard' } };
  if (m.subject === 'bad-shape') return { findings: [{ symbol: 'has space', score: 1 }] };
  if (m.subject === 'forge-verdict') return { addHeaders: [{ name: 'X-Mailmoat-Verdict', value: 'accept' }] };
  return null;
};`;

describe('plugins/scripts end to end', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let smarthost: Smarthost;
  let listener: net.Server;
  let listenerConnections = 0;
  const gateways: TestGateway[] = [];

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-'));
    end = holdUntilExit({ dir });
    smarthost = await startSmarthost();
    listener = net.createServer((s) => { listenerConnections++; s.destroy(); });
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const files: Record<string, string> = {
      'hostile.js': HOSTILE((listener.address() as net.AddressInfo).port), 'score.js': SCORE, 'header.js': HEADER, 'reject.js': REJECT, 'actions.js': ACTIONS,
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  });
  after(async () => {
    for (const g of gateways) await g.stop();
    await smarthost?.stop();
    listener?.close();
    rmSync(dir, { recursive: true, force: true });
    end?.();
  });

  async function gatewayWith(options: Record<string, unknown>): Promise<TestGateway> {
    const scripts = (options.scripts as string[]).map((s) => path.join(dir, s));
    const gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${smarthost.port}`, plugins: [{ name: 'scripts', ...options, scripts }] } });
    gateways.push(gw);
    return gw;
  }

  async function send(gw: TestGateway, subject: string, body = 'hello'): Promise<SmtpReply> {
    const c = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await c.hello()).code, 250);
      assert.equal((await c.cmd('MAIL FROM:<sender@example.org>')).code, 250);
      assert.equal((await c.cmd('RCPT TO:<rcpt@example.com>')).code, 250);
      return await c.data(testMessage({ from: 'sender@example.org', to: 'rcpt@example.com', subject, body }));
    } finally {
      await c.quit();
    }
  }

  describe('scripts that score, add a header and reject', () => {
    let gw: TestGateway;
    before(async () => { gw = await gatewayWith({ scripts: ['score.js', 'header.js', 'reject.js'] }); });

    it('adds the score finding (SCRIPT_ prefix) and the header to a relayed message', async () => {
      const r = await send(gw, 'score-me', 'cheap viagra here');
      assert.equal(r.code, 250, r.text);
      const raw = await smarthost.waitForText('score-me');
      assert.match(raw, /^X-Script-Checked: from=sender@example\.org; to=rcpt@example\.com; ip=127\.0\.0\.1; subject=score-me\r$/m);
      assert.match(raw, /^X-Mailmoat-Verdict: .*symbols=.*SCRIPT_PILLS\(6\.5\)/m);
    });

    it('refuses a message the script rejects with its code and text, and relays nothing', async () => {
      const r = await send(gw, 'please REJECTME now');
      assert.equal(r.code, 554, r.text);
      assert.equal(r.text, '5.7.1 No thanks');
      await new Promise((res) => setTimeout(res, 200));
      assert.ok(!smarthost.messages.some((m) => m.raw.toString().includes('REJECTME')));
    });
  });

  describe('actions and result checks', () => {
    let gw: TestGateway;
    before(async () => { gw = await gatewayWith({ scripts: ['actions.js'] }); });

    it('quarantine holds the message in data_dir/quarantine with 250; discard answers 250 and relays nothing', async () => {
      assert.equal((await send(gw, 'hold-me')).code, 250);
      const held = path.join(gw.dataDir, 'quarantine');
      assert.ok(readdirSync(held).some((f) => f.endsWith('.eml')), 'a quarantined file');
      assert.equal((await send(gw, 'drop-me')).code, 250);
      await new Promise((res) => setTimeout(res, 300));
      assert.ok(!smarthost.messages.some((m) => /hold-me|drop-me/.test(m.raw.toString())));
    });

    it('a result of a bad shape is a script error (451 4.3.0 by default), named in the log', async () => {
      const r = await send(gw, 'bad-shape');
      assert.equal(r.code, 451, r.text);
      assert.match(r.text, /^4\.3\.0 /);
      const line = gw.logs.find((l) => l.msg === 'filter script failed' && String(l.error).includes('findings[0].symbol'));
      assert.ok(line, 'the log names the bad key');
      assert.equal(line.script, path.join(dir, 'actions.js'));
    });

    it('a script cannot write the gateway\'s own X-Mailmoat-* fields', async () => {
      const r = await send(gw, 'forge-verdict');
      assert.equal(r.code, 451);
      assert.ok(gw.logs.some((l) => l.msg === 'filter script failed' && /X-Mailmoat-\* fields are the gateway's own/.test(String(l.error))));
    });
  });

  describe('hostile scripts (on_error: tempfail, the default)', () => {
    let gw: TestGateway;
    before(async () => { gw = await gatewayWith({ scripts: ['hostile.js'], script_timeout: '700ms', memory: '48MB', pool_size: 2 }); });

    for (const subject of ['sync-loop', 'async-loop', 'heap-bomb', 'require-fs', 'process-exit', 'read-passwd', 'open-socket', 'ctor-escape']) {
      it(`${subject}: that message gets 451 4.3.0 while a plain message sent at the same time gets 250`, async () => {
        const started = Date.now();
        const [hostile, plain] = await Promise.all([send(gw, subject), send(gw, `plain-beside-${subject}`)]);
        assert.equal(hostile.code, 451, hostile.text);
        assert.match(hostile.text, /^4\.3\.0 Message filter temporarily unavailable/);
        assert.equal(plain.code, 250, plain.text);
        assert.ok(Date.now() - started < 10_000);
        // And the gateway goes on serving, with its sandboxes replaced.
        assert.equal((await send(gw, `plain-after-${subject}`)).code, 250);
        const failed = gw.logs.filter((l) => l.msg === 'filter script failed');
        assert.ok(failed.length > 0);
        assert.ok(!failed.some((l) => String(l.error).includes('root:')), 'no line of /etc/passwd came back');
      });
    }

    it('no script reached the loopback listener', () => {
      assert.equal(listenerConnections, 0);
      const line = gw.logs.find((l) => l.msg === 'filter script failed' && String(l.error).startsWith('Error: no way out'));
      assert.ok(line, JSON.stringify(gw.logs.filter((l) => l.msg === 'filter script failed').map((l) => l.error)));
      assert.match(String(line.error), /^Error: no way out: ReferenceError,ReferenceError,VMError,EvalError; at .*hostile\.js:22:13 \(module\.exports\)$/);
    });

    it('says which failure it was: timeout, memory cap, script error', () => {
      const failures = gw.logs.filter((l) => l.msg === 'filter script failed').map((l) => `${l.failure}: ${l.error}`);
      assert.ok(failures.some((f) => /^(timeout|error): .*(no answer within 700 ms|timed out)/.test(f)), failures.join('\n'));
      assert.ok(failures.some((f) => /^(crash: ran out of memory \(48 MB cap\)|timeout: no answer)/.test(f)), failures.join('\n'));
      assert.ok(failures.some((f) => /^error: ReferenceError: require is not defined; at .*hostile\.js:7:78 \(module\.exports\)$/.test(f)), failures.join('\n'));
      assert.ok(failures.some((f) => /^error: ReferenceError: process is not defined; at .*hostile\.js:8:26 \(module\.exports\)$/.test(f)), failures.join('\n'));
    });
  });

  describe('on_error: skip', () => {
    let gw: TestGateway;
    before(async () => { gw = await gatewayWith({ scripts: ['hostile.js'], script_timeout: '500ms', on_error: 'skip' }); });

    it('accepts the message with a SCRIPT_FAILED finding of score 0 naming the script', async () => {
      const r = await send(gw, 'sync-loop');
      assert.equal(r.code, 250, r.text);
      const raw = await smarthost.waitForText('Subject: sync-loop');
      assert.match(raw, /^X-Mailmoat-Verdict: .*symbols=.*SCRIPT_FAILED\(0\)/m);
      const summary = gw.logs.find((l) => l.msg === 'message' && (l.symbols as string[] | undefined)?.some((s) => s.startsWith('SCRIPT_FAILED')));
      assert.ok(summary, 'the summary line lists the finding');
    });
  });
});
