// A null sender is one SPF identity, postmaster@<HELO name> (RFC 7208 2.4): scored once, over real SMTP and a real DNS
// server on loopback.
import assert from 'node:assert/strict';
import type { LogFields } from '../../../core/log/types.ts';
import { testMessage } from '../../helpers/smtp-dialog.ts';
import { openSession, startAuthGateway, type AuthGateway } from './e2e-setup.ts';

describe('spf null sender end to end', function () {
  this.timeout(20_000);
  let gw: AuthGateway;

  before(async () => {
    gw = await startAuthGateway({
      'bad.helo.test': { '@': { TXT: ['v=spf1 -all'] } },
      'sender.test': { '@': { TXT: ['v=spf1 -all'] } },
    }, [{ name: 'spf' }]);
  });

  after(async () => { await gw?.stop(); });

  async function deliver(from: string, subject: string): Promise<{ relayed: string; line: LogFields }> {
    const c = await openSession(gw.gw.port, '198.51.100.9', 'bad.helo.test');
    assert.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
    assert.equal((await c.cmd('RCPT TO:<bob@receiver.test>')).code, 250);
    const r = await c.data(testMessage({ from: 'x@sender.test', to: 'bob@receiver.test', subject }));
    assert.equal(r.code, 250, r.text);
    await c.quit();
    const relayed = await gw.relayed(subject);
    const line = gw.gw.logs.filter((l) => l.msg === 'message' && l.from === from).at(-1);
    assert.ok(line, `a message log line for <${from}>`);
    return { relayed, line };
  }

  it('scores a bounce whose HELO name fails once, as SPF_FAIL, with no SPF_HELO_FAIL beside it', async () => {
    const { relayed, line } = await deliver('', 'spf-null-sender-fail');
    const symbols = line.symbols as string[];
    assert.deepEqual(symbols.filter((s) => s.startsWith('SPF_')), ['SPF_FAIL(4)']);
    assert.ok((line.details as string[]).includes('SPF_FAIL: fail identity=mailfrom domain=bad.helo.test ip=198.51.100.9 mechanism=-all'), (line.details as string[]).join(' | '));
    assert.match(relayed, /^Received-SPF: fail \(mx\.receiver\.test: domain of postmaster@bad\.helo\.test does not designate 198\.51\.100\.9 as permitted sender\) client-ip=198\.51\.100\.9; envelope-from=""; helo=bad\.helo\.test;/m);
  });

  it('still checks the HELO name as its own identity beside a sender address', async () => {
    const { line } = await deliver('bounce@sender.test', 'spf-sender-and-helo');
    const symbols = (line.symbols as string[]).filter((s) => s.startsWith('SPF_')).sort();
    assert.deepEqual(symbols, ['SPF_FAIL(4)', 'SPF_HELO_FAIL(1.5)']);
  });
});
