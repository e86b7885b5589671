// What the recipient's page (/quarantine/mine) says an allow entry does must be what the running config does: with
// `allow_needs_auth: false`, or with no spf or dmarc plugin to prove a sender, "when its domain proves the mail is its
// own (SPF or DMARC)" promised a check that never happens.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { allowRuleOf, allowRuleText } from '../../../core/quarantine/allow-rule.ts';
import { quarantineRoutes } from '../../../core/quarantine/http-handlers.ts';
import { loadTicketKey, signRecipientTicket } from '../../../core/quarantine/ticket.ts';
import { startHttpListener, type HttpListener } from '../../../core/http/server.ts';
import { ControlClient } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { sendMail } from '../queue/send.ts';
import { askForm } from './https-form.ts';

const plugins = (...entries: Array<Record<string, unknown> & { name: string }>) => ({ plugins: entries });

describe('when an allow entry counts, as the recipient page says it', () => {
  it('reads the user-lists entry and the chain as the plugin does', () => {
    assert.equal(allowRuleOf(plugins({ name: 'spf' }, { name: 'rules' })), undefined, 'no user-lists plugin: no rule');
    assert.deepEqual(allowRuleOf(plugins({ name: 'spf' }, { name: 'dmarc' }, { name: 'user-lists' })), { needsAuth: true, envelopeProvable: true, fromProvable: true });
    assert.deepEqual(allowRuleOf(plugins({ name: 'user-lists' }, { name: 'dmarc' })), { needsAuth: true, envelopeProvable: false, fromProvable: false }, 'dmarc after user-lists comes too late');
    assert.deepEqual(allowRuleOf(plugins({ name: 'user-lists', allow_needs_auth: false })), { needsAuth: false, envelopeProvable: false, fromProvable: false });
  });

  it('says a proof is needed only where the config asks for one, and names only the proofs that can be given', () => {
    const text = (needsAuth: boolean, envelopeProvable: boolean, fromProvable: boolean) => allowRuleText({ needsAuth, envelopeProvable, fromProvable });
    assert.doesNotMatch(text(false, false, false), /SPF|DMARC|DKIM|proves/);
    assert.match(text(false, false, false), /counts strongly in favour of its mail;/);
    assert.match(text(true, true, true), /SPF for the envelope sender; DMARC or an aligned DKIM signature for the From address/);
    assert.match(text(true, true, false), /only as the envelope sender.*\(SPF\); an entry matching only the From address does not count/);
    assert.doesNotMatch(text(true, true, false), /DMARC/);
    assert.match(text(true, false, true), /only as the From address.*\(DMARC or an aligned DKIM signature\)/);
    assert.doesNotMatch(text(true, false, true), /SPF/);
    assert.match(text(true, false, false), /does not count in favour of mail on this gateway now/);
    // Unknown (a caller that cannot say): what holds in every config, no promise of a particular check.
    assert.doesNotMatch(allowRuleText(undefined), /SPF|DMARC/);
    assert.match(allowRuleText(undefined), /may require/);
  });
});

describe('the recipient page\'s sentence on allow entries, on a running gateway', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let ticket: string;
  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [
        { name: 'user-lists', allow_needs_auth: false },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    } });
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    assert.equal((await sendMail(g.port, { from: 'news@shop.example', to: ['ann@example.com'], subject: 'hold-me please' })).code, 250);
    ticket = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
  });
  after(() => g.stop());

  /** The sentence on allow entries: from its start to the next one, which says what an entry may be. */
  const sentence = (body: string) => /(?:A sender on your allow list|An allow entry does)[^<]*?(?= An entry is)/.exec(body)?.[0] ?? '';

  it('promises no SPF or DMARC check to a recipient of a gateway that makes none', async () => {
    const page = await askForm(g.gateway.admin!.addresses[0].port, ca, 'GET', '/quarantine/mine', { t: ticket });
    assert.equal(page.status, 200);
    assert.match(page.body, /Your sender lists/);
    assert.ok(sentence(page.body), 'the page says what an allow entry does');
    assert.doesNotMatch(sentence(page.body), /SPF|DMARC/);
  });

  it('says what the running config does when the page is given the config\'s rule', async () => {
    const rt = g.gateway.runtime;
    const control = new ControlClient(socketPath(g.dataDir));
    const routes = quarantineRoutes({
      key: loadTicketKey(g.dataDir), store: rt.queue, lists: rt.services.store, listsApplied: () => true,
      forRecipient: (action, id, address) => action === 'release' ? control.releaseForRecipient(id, address) : control.deleteForRecipient(id, address),
      allowRule: () => allowRuleOf(rt.config),
    });
    const key = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.key'));
    let listener: HttpListener | undefined;
    try {
      listener = await startHttpListener({ listen: ['127.0.0.1:0'], tls: { key, cert: ca }, allowed: () => true, log: rt.log, routes });
      const page = await askForm(listener.addresses[0].port, ca, 'GET', '/quarantine/mine', { t: ticket });
      assert.equal(page.status, 200);
      assert.equal(sentence(page.body), 'A sender on your allow list counts strongly in favour of its mail; mail that is plainly spam or carries a virus may still be kept from you.');
    } finally { await listener?.close(); }
  });
});
