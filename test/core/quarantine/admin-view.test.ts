// What an admin sees of the quarantine with `moat queue`: why each message is held (score and findings) in the list,
// and encoded-word headers decoded in `show`, as the recipient's mail program would show them.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { moatQueue } from '../queue/moat-queue.ts';

describe('moat queue on the quarantine', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'], scores: { add_header: 5, quarantine: 10, reject: 20 },
      plugins: [{ name: 'rules', rules: [{ name: 'pills', when: { subject: 'таблетки' }, actions: [{ score: 12 }] }] }],
    } });
  });
  after(() => g.stop());

  it('lists the score and findings of each held message, and shows its subject decoded', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    const info = await t.sendMail({ from: 'shop@pharma.example', to: 'ann@example.com', subject: 'дешёвые таблетки', text: 'x' });
    t.close();
    const id = /queued as (\S+)/.exec(info.response)![1];
    const list = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine');
    assert.match(list.stdout, new RegExp(`^${id} .* quarantined `, 'm'));
    assert.match(list.stdout, /^ {4}score 12 {2}RULE_PILLS$/m);
    const json = await moatQueue(g.dataDir, 'list', '--folder', 'quarantine', '--json');
    const verdict = (json.json as Array<{ verdict: { reason?: string } }>)[0].verdict;
    assert.deepEqual({ ...verdict, reason: undefined }, { action: 'quarantine', score: 12, symbols: ['RULE_PILLS'], reason: undefined });
    assert.match(String(verdict.reason), /^score 12 ≥ quarantine threshold \d+$/);
    const show = await moatQueue(g.dataDir, 'show', id);
    assert.match(show.stdout, /^ {2}Subject: =\?UTF-8\?/m, 'as sent');
    assert.match(show.stdout, /^ {4}\(decoded: дешёвые таблетки\)$/m);
  });
});
