// Connections that a trusted proxy opens for its clients: each is counted under the client XCLIENT names, so
// limits.max_connections_per_ip applies to that client and a proxy with many clients at once is not refused for them.
import assert from 'node:assert/strict';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

describe('connection counts behind an XCLIENT proxy', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { server: { trusted_proxies: ['127.0.0.1'] }, limits: { max_connections_per_ip: 2 } } });
  });
  after(() => gw.stop());

  async function through(addr: string): Promise<{ dialog: SmtpDialog; code: number }> {
    const dialog = await SmtpDialog.connect(gw.port);
    const r = await dialog.hello({ xclient: { addr } });
    return { dialog, code: r.code };
  }

  it('lets the proxy hold more sessions than max_connections_per_ip, one per client', async () => {
    const held = await Promise.all(['192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14', '192.0.2.15'].map(through));
    try {
      assert.deepEqual(held.map((h) => h.code), [250, 250, 250, 250, 250]);
    } finally { await Promise.all(held.map((h) => h.dialog.quit().catch(() => {}))); }
  });

  it('refuses a third session of one client named by XCLIENT with 421, and counts it down when it closes', async () => {
    const first = await through('192.0.2.20');
    const second = await through('192.0.2.20');
    const third = await through('192.0.2.20');
    try {
      assert.deepEqual([first.code, second.code], [250, 250]);
      assert.equal(third.code, 421);
      const line = gw.logs.find((l) => l.msg === 'client refused: connection limit' && l.client === '192.0.2.20');
      assert.ok(line, 'the refusal is logged under the client\'s address');
      await first.dialog.quit();
      // The freed slot is the client's again.
      const again = await waitFor('a new session of the client to be let in', async () => {
        const tried = await through('192.0.2.20');
        if (tried.code === 250) return tried;
        await tried.dialog.quit().catch(() => {});
        return undefined;
      }, 3000);
      await again.dialog.quit();
    } finally {
      await Promise.all([second, third].map((h) => h.dialog.quit().catch(() => {})));
    }
  });
});
