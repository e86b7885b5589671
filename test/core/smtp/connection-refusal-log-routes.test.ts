// Refusals at limits.connection_rate, and those of a client a trusted proxy names with XCLIENT (its rate, its
// max_connections_per_ip, its error_block), go through the bounded refusal log as the caps' own do: a client's first
// refusal gets a line, the rest are counted (core/smtp/connection-refusal-log.ts), so knocking cannot fill the log.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

const KNOCKS = 15;

describe('refusals routed through the bounded refusal log', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  const refusedCount = () => gw.gateway.runtime.metrics.counters.get('connections_refused') ?? 0;
  const lines = (msg: string, ip: string) => gw.logs.filter((l) => l.msg === msg && l.client === ip);

  /** A session from `localAddress`; through the proxy (127.0.0.1) with XCLIENT naming `named`. Returns its last reply. */
  async function session(opts: { localAddress?: string; named?: string }): Promise<{ d: SmtpDialog; code: number; text: string }> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: opts.localAddress ?? '127.0.0.1' });
    const r = opts.named ? await d.hello({ xclient: { addr: opts.named } }) : await d.read();
    return { d, code: r.code, text: r.text };
  }
  async function knock(n: number, opts: { localAddress?: string; named?: string }): Promise<string[]> {
    const texts: string[] = [];
    for (let i = 0; i < n; i++) {
      const s = await session(opts);
      texts.push(`${s.code} ${s.text}`);
      await s.d.quit();
    }
    return texts;
  }

  describe('limits.connection_rate', () => {
    before(async () => { gw = await startGateway({ config: { server: { greeting_delay: 0 }, limits: { connection_rate: 2 } } }); });
    after(async () => { await gw?.stop(); });

    it('logs a client over its rate once, however often it knocks, and counts every refusal', async () => {
      assert.deepEqual((await knock(2, { localAddress: '127.7.4.1' })).map((t) => t.slice(0, 3)), ['220', '220']);
      const before = refusedCount();
      const answers = await knock(KNOCKS, { localAddress: '127.7.4.1' });
      assert.ok(answers.every((a) => a === '421 4.7.0 Connection rate limit exceeded for your address, try again later'), answers[0]);
      assert.equal(refusedCount(), before + KNOCKS);
      const logged = lines('client refused: connection rate limit', '127.7.4.1');
      assert.equal(logged.length, 1, 'one line for every knock');
      assert.deepEqual([logged[0].limit, logged[0].max, logged[0].window_ms, logged[0].listener], ['limits.connection_rate', 2, 60_000, 'smtp']);
      assert.ok(logged[0].cid, 'with the session\'s cid');
    });

    it('logs a client a trusted proxy names over its rate once, with the proxy', async () => {
      assert.deepEqual((await knock(2, { named: '192.0.2.77' })).map((t) => t.slice(0, 3)), ['250', '250']);
      const answers = await knock(KNOCKS, { named: '192.0.2.77' });
      assert.ok(answers.every((a) => a.startsWith('421 4.7.0 Connection rate limit exceeded')), answers[0]);
      const logged = lines('client refused: connection rate limit', '192.0.2.77');
      assert.equal(logged.length, 1);
      assert.deepEqual([logged[0].proxy, logged[0].limit], ['127.0.0.1', 'limits.connection_rate']);
    });
  });

  describe('a client named by XCLIENT over its cap or blocked', () => {
    before(async () => {
      gw = await startGateway({ config: { server: { greeting_delay: 0 }, limits: { max_connections_per_ip: 2, max_errors: 2, error_block: '1m' } } });
    });
    after(async () => { await gw?.stop(); });

    it('logs it over max_connections_per_ip once, with the counts and the proxy', async () => {
      const held = [await session({ named: '192.0.2.88' }), await session({ named: '192.0.2.88' })];
      assert.deepEqual(held.map((s) => s.code), [250, 250]);
      const before = refusedCount();
      const answers = await knock(KNOCKS, { named: '192.0.2.88' });
      assert.ok(answers.every((a) => a === '421 4.7.0 Too many connections from your address'), answers[0]);
      assert.equal(refusedCount(), before + KNOCKS);
      const logged = lines('client refused: connection limit', '192.0.2.88');
      assert.equal(logged.length, 1);
      assert.deepEqual(
        [logged[0].limit, logged[0].max, logged[0].open, logged[0].proxy],
        ['limits.max_connections_per_ip', 2, 2, '127.0.0.1'],
      );
      for (const s of held) await s.d.quit();
    });

    it('logs it blocked after too many errors once, however often it comes back', async () => {
      const erring = await session({ named: '192.0.2.99' });
      assert.equal((await erring.d.cmd('RCPT TO:<user@example.com>')).code, 503);
      assert.equal((await erring.d.cmd('RCPT TO:<user@example.com>')).code, 503);
      assert.equal((await erring.d.cmd('RCPT TO:<user@example.com>')).code, 421);
      await erring.d.quit();
      const answers = await knock(KNOCKS, { named: '192.0.2.99' });
      assert.ok(answers.every((a) => a === '421 4.7.0 Too many errors from your address, try again later'), answers[0]);
      const logged = lines('client refused: blocked after too many errors', '192.0.2.99');
      assert.equal(logged.length, 1);
      assert.equal(logged[0].proxy, '127.0.0.1');
    });
  });
});
