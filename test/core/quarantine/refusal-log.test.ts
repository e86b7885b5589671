// A refused quarantine link is logged at info with why; a client sending a thousand of them must not write a thousand
// lines. Each reason's first few of the minute are written as they come, the rest counted for one line at the minute's
// end (its summing-up is ThrottledLog's, tested in test/core/http/throttled-log.test.ts). With real parts: a gateway
// serving the pages over HTTPS, real requests with forged and expired tickets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { loadTicketKey, signRecipientTicket } from '../../../core/quarantine/ticket.ts';
import { REFUSALS_LOGGED_FREE } from '../../../core/quarantine/refusal-log.ts';
import { askForm } from './https-form.ts';

describe('refused quarantine links in the log', function () {
  this.timeout(60_000);
  let g: RelayingGateway;

  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
    } });
  });
  after(() => g.stop());

  it('writes each reason\'s first few of the minute, and no more', async () => {
    const port = g.gateway.admin!.addresses[0].port;
    const ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    const expired = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() - 1 });
    const answers = [];
    for (let i = 0; i < 30; i++) answers.push((await askForm(port, ca, 'GET', '/quarantine/mine', { t: `forged${i}.AAAA` })).status);
    for (let i = 0; i < 3; i++) answers.push((await askForm(port, ca, 'GET', '/quarantine/mine', { t: expired })).status);
    assert.deepEqual(new Set(answers), new Set([403]), 'every one refused');
    const lines = g.logs.filter((l) => l.msg === 'quarantine link refused');
    assert.deepEqual(lines.map((l) => l.reason), [...Array(REFUSALS_LOGGED_FREE).fill('bad signature'), 'expired', 'expired', 'expired']);
    assert.ok(lines.every((l) => l.level === 'info' && l.client === '127.0.0.1' && l.path === '/quarantine/mine'));
  });
});
