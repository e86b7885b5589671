// The gateway's own digest (the schedule, and `moat quarantine digest` through the control socket) folds tagged
// addresses with the user-lists plugin's `recipient_delimiter`, as its pages do: with `-`, mail held for `ann-shop@`
// is in `ann@`'s digest, and `+` is then no delimiter at all.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { ControlClient } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';

describe('the gateway\'s digest and a custom recipient_delimiter', function () {
  this.timeout(60_000);
  let g: RelayingGateway;

  async function send(to: string, subject: string): Promise<void> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try { await t.sendMail({ from: 'prize@lottery.example', to, subject, text: 'You won!' }); } finally { t.close(); }
  }

  before(async () => {
    g = await startRelayingGateway({ config: {
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      http: { listen: ['127.0.0.1:0'], tls: true },
      plugins: [
        { name: 'user-lists', recipient_delimiter: '-' },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    } });
  });
  after(() => g.stop());

  it('lists ann-shop@\'s held mail in ann@\'s digest, and ann+news@ in a digest of its own', async () => {
    await send('ann@example.com', 'hold-me: plain');
    await send('ann-shop@example.com', 'hold-me: shop');
    await send('ann+news@example.com', 'hold-me: plus');
    const report = await new ControlClient(socketPath(g.dataDir)).digest({ all: true });
    assert.deepEqual(report.digests.map((d) => [d.to, d.messages]).sort(), [['ann+news@example.com', 1], ['ann@example.com', 2]]);
  });
});
