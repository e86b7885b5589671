// Without the user-lists plugin no address is merged with another: at a site where `ann+shop@` is a mailbox of its
// own (Postfix's recipient_delimiter is empty by default), `ann@` must not read, release or delete its held mail, and
// each gets a digest of its own. With the plugin, its recipient_delimiter merges them as before (tagged-mailbox.test.ts).
// With real parts: a gateway whose rule quarantines mail sent over SMTP, its digest through the control socket to a
// recording smarthost, HTTPS requests trusting only its certificate.
import assert from 'node:assert/strict';
import type { RelayingGateway } from '../../helpers/gateway.ts';
import { ControlClient } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';
import { digestText, mineTicketOf } from './digest-text.ts';
import { askForm } from './https-form.ts';
import { holdMail, startHoldingGateway } from './holding-gateway.ts';

describe('without the user-lists plugin, a tagged address is a mailbox of its own', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  const hold = (to: string, subject: string) => holdMail(g, to, subject);

  // The rule holds every message; the gateway runs no user-lists plugin.
  before(async () => { ({ g, port, ca } = await startHoldingGateway('^hold-me')); });
  after(() => g.stop());

  it('one digest each, and no ticket of one reaches the other\'s mail', async () => {
    const annId = await hold('ann@example.com', 'hold-me: ann');
    const shopId = await hold('ann+shop@example.com', 'hold-me: shop');
    const report = await new ControlClient(socketPath(g.dataDir)).digest({ all: true });
    assert.deepEqual(report.digests.map((d) => [d.to, d.messages]).sort(), [['ann+shop@example.com', 1], ['ann@example.com', 1]]);
    const mails = await g.sink.waitFor(2);
    const annDigest = digestText(mails.find((m) => m.rcptTo[0] === 'ann@example.com')!.raw);
    assert.doesNotMatch(annDigest, /hold-me: shop/);

    const page = await askForm(port, ca, 'GET', '/quarantine/mine', { t: mineTicketOf(annDigest)! });
    assert.equal(page.status, 200);
    assert.match(page.body, /hold-me: ann/);
    assert.doesNotMatch(page.body, /hold-me: shop/);

    const key = loadTicketKey(g.dataDir);
    const ann = signRecipientTicket(key, { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    assert.equal((await askForm(port, ca, 'GET', '/quarantine/preview', { t: ann, id: shopId })).status, 410);
    assert.equal((await askForm(port, ca, 'POST', '/quarantine/mine', { t: ann, do: 'delete', id: shopId })).status, 410);
    const link = signTicket(key, { id: shopId, address: 'ann@example.com', expires: Date.now() + 3_600_000, action: 'release' });
    assert.equal((await askForm(port, ca, 'POST', '/quarantine/release', { t: link })).status, 410);
    const status = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.recipients.map((r) => r.status);
    assert.deepEqual([await status(annId), await status(shopId)], [['pending'], ['pending']]);
  });
});
