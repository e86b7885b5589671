// Why a rule held a message, as its recipient reads it, on a real gateway: mail in over SMTP, a real digest out to a
// recording smarthost, the recipient's page over HTTPS. A bare `quarantine` showed "rule hold-invoice" and a score of
// 0.0 though the rule had a description; the administrator's reason still names the rule.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { runDigest } from '../../../core/quarantine/digest.ts';
import { digestConfigSchema } from '../../../core/quarantine/digest-config.ts';
import { validate } from '../../../core/config/schema.ts';
import { digestHtml, digestText, mineTicketOf } from '../../core/quarantine/digest-text.ts';
import { askForm } from '../../core/quarantine/https-form.ts';

const LINK_BASE = 'https://mail.example.com/';

describe('plugins/rules: the reason of a rule\'s quarantine, in the digest and on the recipient\'s page', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  const ids: Record<string, string> = {};

  async function send(subject: string): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try {
      const info = await t.sendMail({ from: 'billing@vendor.example', to: ['ann@example.com'], subject, text: 'Please pay.' });
      return /queued as (\S+)/.exec(info.response)![1];
    } finally { t.close(); }
  }

  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: LINK_BASE },
      plugins: [{ name: 'rules', rules: [
        { name: 'hold-invoice', description: 'Invoices from outside\n  are held for review', when: { subject: { contains: 'invoice' } }, actions: ['quarantine'] },
        { name: 'hold-contract', when: { subject: { contains: 'contract' } }, actions: ['quarantine'] },
        { name: 'hold-wire', description: 'not this one', when: { subject: { contains: 'wire' } }, actions: [{ quarantine: 'Payment requests are checked by hand' }] },
      ] }],
    } });
    ids.invoice = await send('Your invoice #4411');
    ids.contract = await send('The contract');
    ids.wire = await send('Urgent wire transfer');
  });
  after(() => g?.stop());

  it('keeps the rule\'s name for the administrator and shows the recipient its description, else its text, else its name', async () => {
    const reasonOf = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.verdict?.reason;
    assert.equal(await reasonOf(ids.invoice), 'rules: rule hold-invoice: Invoices from outside are held for review', 'the description on one line');
    assert.equal(await reasonOf(ids.contract), 'rules: rule hold-contract');
    assert.equal(await reasonOf(ids.wire), 'rules: rule hold-wire: Payment requests are checked by hand', 'a written reason beats the description');

    const rt = g.gateway.runtime;
    await runDigest({
      dataDir: g.dataDir, store: rt.queue, schedule: (e) => rt.delivery.add(e), hostname: () => 'mx.test.example', localDomains: () => ['example.com'],
      config: () => validate(digestConfigSchema, { link_base: LINK_BASE }).value,
    }, { to: 'ann@example.com' });
    const [digest] = await g.sink.waitFor(1);
    const text = digestText(digest.raw);
    assert.match(text, /^Subject: Your invoice #4411\r\nReason: {2}Invoices from outside are held for review\r$/m);
    assert.match(text, /^Subject: The contract\r\nReason: {2}rule hold-contract\r$/m);
    assert.match(text, /^Subject: Urgent wire transfer\r\nReason: {2}Payment requests are checked by hand\r$/m);
    assert.doesNotMatch(text, /^Score:|score 0\.0/m, 'no score pretends to explain a rule\'s hold');
    const html = digestHtml(digest.raw);
    assert.ok(html.includes('<div>Why held: Invoices from outside are held for review</div>'), html);
    assert.doesNotMatch(html, /hold-invoice|score 0\.0/);

    const ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    const page = await askForm(g.gateway.admin!.addresses[0].port, ca, 'GET', '/quarantine/mine', { t: mineTicketOf(text)! });
    assert.equal(page.status, 200, page.body);
    const row = (id: string) => page.body.split('<tr>').find((r) => r.includes(`name="ids" value="${id}"`)) ?? '';
    assert.match(row(ids.invoice), /<td>Invoices from outside are held for review<\/td>/);
    assert.match(row(ids.contract), /<td>rule hold-contract<\/td>/);
    assert.match(row(ids.wire), /<td>Payment requests are checked by hand<\/td>/);
    assert.doesNotMatch(page.body, /hold-invoice|hold-wire|score 0\.0/);
  });
});
