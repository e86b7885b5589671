// The quarantine's actions are taken only from their own pages' forms: a POST whose ticket is only in the query (a link
// checker POSTing to a URL it found in a mail) or that a browser says came from another site (a page elsewhere that
// auto-submits a form) is refused and the message stays held; the pages' own forms, as a browser sends them (the
// ticket in the body, Sec-Fetch-Site same-origin, Origin null under the pages' no-referrer policy), still act. With real
// parts: a gateway quarantining mail sent to it over SMTP, a recording smarthost, HTTPS trusting only its certificate.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { validateConfig } from '../../../core/config/load.ts';
import { loadTicketKey, signRecipientTicket } from '../../../core/quarantine/ticket.ts';
import { messageLinks } from '../../../core/quarantine/digest-mail.ts';
import { REFUSALS_LOGGED_FREE } from '../../../core/quarantine/refusal-log.ts';
import { request, type Answer } from './https-form.ts';

const LINK_BASE = 'https://mail.example.com';
/** What a browser sends with a form of the pages: its own site, the origin hidden by the pages' Referrer-Policy. */
const OWN_FORM = { 'sec-fetch-site': 'same-origin', origin: 'null' };
const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/**
 * The form of `html` holding the button `do=<value>` (or the only form, for a link's page), as a browser submits it:
 * its hidden fields and the button's, sent to its action resolved against `pageUrl` (no action: the page's own URL).
 */
function submission(html: string, pageUrl: string, value?: string): { target: string; body: string } {
  const forms = [...html.matchAll(/<form method="post"([^>]*)>([\s\S]*?)<\/form>/g)];
  const chosen = value === undefined ? forms[0] : forms.find((f) => f[2].includes(`name="do" value="${value}"`));
  assert.ok(chosen, `a form with ${value ?? 'a button'} on the page`);
  const fields: Array<[string, string]> = [...chosen[2].matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], unescape(m[2])]);
  if (value !== undefined) fields.push(['do', value]);
  const action = /action="([^"]*)"/.exec(chosen[1])?.[1];
  const url = new URL(action ?? pageUrl, `https://mail.example.com${pageUrl}`);
  return { target: `${url.pathname}${url.search}`, body: new URLSearchParams(fields).toString() };
}

describe('quarantine actions are taken only from their own pages\' forms', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  let ann: string;
  let smtp: Transporter;

  /** Sends Ann a message the gateway's rule quarantines; its queue id. */
  const hold = async (subject: string) =>
    /queued as (\S+)/.exec(String((await smtp.sendMail({ from: 'prize@lottery.example', to: 'ann@example.com', subject, text: 'You won!' })).response))![1];
  const links = (id: string) => messageLinks(loadTicketKey(g.dataDir), LINK_BASE, { id, address: 'ann@example.com', expires: Date.now() + 3_600_000 });
  /** The link's path and query, as its digest gives it. */
  const target = (link: string) => { const u = new URL(link); return `${u.pathname}${u.search}`; };
  const ticketIn = (link: string) => new URL(link).searchParams.get('t')!;
  const statuses = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.recipients.map((r) => r.status);
  const post = (p: string, fields: Record<string, string> | string, headers: Record<string, string> = {}) =>
    request(port, ca, 'POST', p, typeof fields === 'string' ? fields : new URLSearchParams(fields).toString(), headers);
  const refusals = () => g.logs.filter((l) => l.msg === 'quarantine link refused');
  const minePage = () => request(port, ca, 'GET', `/quarantine/mine?${new URLSearchParams({ t: ann })}`);

  before(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: `${LINK_BASE}/` },
      plugins: [
        { name: 'user-lists' },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
    ann = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    smtp = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 1 });
  });
  after(async () => { smtp?.close(); await g?.stop(); });

  it('a digest link POSTed with its ticket in the query only is refused, and the message stays held', async () => {
    const id = await hold('hold-me: link checker');
    const l = links(id);
    const before = refusals().length;
    for (const link of [l.release, l.delete]) {
      // As the audit's curl: an empty body, the ticket where the digest put it.
      const r = await post(target(link), '');
      assert.equal(r.status, 400, `${target(link).split('?')[0]}: ${r.body}`);
      assert.match(r.body, /only with the buttons of its page/);
      // With a form that names no ticket, the query's is not taken either.
      assert.equal((await post(target(link), { confirm: '1' })).status, 400);
    }
    assert.deepEqual(await statuses(id), ['pending'], 'still held for Ann');
    const lines = refusals().slice(before);
    assert.deepEqual(lines.map((x) => x.reason), Array(4).fill('ticket in the query of a POST'));
    assert.ok(lines.every((x) => !JSON.stringify(x).includes(ticketIn(l.release)) && !JSON.stringify(x).includes(ticketIn(l.delete))), 'no ticket in the log');
  });

  it('a digest link\'s POST from another site is refused, whatever ticket it carries', async () => {
    const id = await hold('hold-me: cross-site');
    const l = links(id);
    const before = refusals().length;
    const fromElsewhere: Array<Record<string, string>> = [
      { origin: 'https://evil.test' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site', origin: 'https://webmail.example.com' },
      // A sandboxed frame elsewhere hides its origin too; the browser still says it is another site.
      { 'sec-fetch-site': 'cross-site', origin: 'null' },
      // link_base's host over plain HTTP, or another port, is another origin.
      { origin: 'http://mail.example.com' },
      { origin: 'https://mail.example.com:8443' },
    ];
    for (const headers of fromElsewhere) {
      for (const link of [l.release, l.delete]) {
        const r = await post(target(link), { t: ticketIn(link) }, headers);
        assert.equal(r.status, 403, `${JSON.stringify(headers)} ${target(link).split('?')[0]}`);
        assert.match(r.body, /only from the quarantine&#39;s own pages/);
      }
    }
    assert.deepEqual(await statuses(id), ['pending'], 'still held for Ann');
    // Each reason's first REFUSALS_LOGGED_FREE of the minute are written; the rest are counted for the minute's summary.
    const lines = refusals().slice(before);
    const count = (reason: string) => lines.filter((x) => x.reason === reason).length;
    assert.deepEqual([count('request from another origin'), count('cross-site request'), lines.length], [REFUSALS_LOGGED_FREE, REFUSALS_LOGGED_FREE, REFUSALS_LOGGED_FREE * 2]);
    assert.deepEqual(lines.slice(0, 4).map((x) => [x.reason, x.origin ?? x.sec_fetch_site]), [
      ['request from another origin', 'https://evil.test'], ['request from another origin', 'https://evil.test'],
      ['cross-site request', 'cross-site'], ['cross-site request', 'cross-site'],
    ]);
  });

  it('the link\'s own page, its form submitted as a browser does, still releases; and one with no such headers deletes', async () => {
    const id = await hold('hold-me: own form');
    const l = links(id);
    const pageUrl = target(l.release);
    const shown = await request(port, ca, 'GET', pageUrl);
    assert.equal(shown.status, 200);
    const form = submission(shown.body, pageUrl);
    // The form has no action: it posts back to the page's own address, query and all, with the ticket in its body.
    assert.equal(form.target, pageUrl);
    const before = g.sink.messages.length;
    const released = await post(form.target, form.body, OWN_FORM);
    assert.equal(released.status, 303, released.body);
    await waitUntil('the released copy at the smarthost', () => g.sink.messages.length > before);
    assert.deepEqual(g.sink.messages.at(-1)!.rcptTo, ['ann@example.com']);

    // link_base's own origin, named; and curl's request (no Origin, no Sec-Fetch-Site): the body's ticket decides.
    const other = await hold('hold-me: named origin');
    assert.equal((await post('/quarantine/delete', { t: ticketIn(links(other).delete) }, { origin: LINK_BASE, 'sec-fetch-site': 'same-origin' })).status, 303);
    assert.equal(await statuses(other), undefined, 'deleted');
    const third = await hold('hold-me: curl');
    assert.equal((await post('/quarantine/delete', { t: ticketIn(links(third).delete) })).status, 303);
    assert.equal(await statuses(third), undefined, 'deleted');
    // Typed into the address bar, or opened from a bookmark: Sec-Fetch-Site none.
    const fourth = await hold('hold-me: typed');
    assert.equal((await post('/quarantine/delete', { t: ticketIn(links(fourth).delete) }, { 'sec-fetch-site': 'none' })).status, 303);
    assert.equal(await statuses(fourth), undefined, 'deleted');
  });

  it('every action of the recipient\'s page refuses a query-only ticket and a cross-site POST; its own forms still act', async () => {
    const id = await hold('hold-me: page');
    const spare = await hold('hold-me: page, spare');
    const mine = `/quarantine/mine?${new URLSearchParams({ t: ann })}`;
    const verbs: Array<Record<string, string>> = [
      { do: 'release', id }, { do: 'delete', id }, { do: 'allow', id }, { do: 'block', id },
      { do: 'add', list: 'block', entry: 'evil@attacker.example' }, { do: 'remove', list: 'block', entry: 'evil@attacker.example' },
      { do: 'release-selected', ids: id }, { do: 'delete-selected', ids: id }, { do: 'delete-all' }, { do: 'delete-all', confirm: '1', upto: String(Date.now()) },
    ];
    for (const fields of verbs) {
      const queryOnly = await post(mine, fields);
      assert.equal(queryOnly.status, 400, `${fields.do} with the ticket in the query only`);
      assert.match(queryOnly.body, /only with the buttons of its page/);
      for (const headers of [{ origin: 'https://evil.test' }, { 'sec-fetch-site': 'cross-site' }] as Array<Record<string, string>>) {
        const r = await post(mine, { t: ann, ...fields }, headers);
        assert.equal(r.status, 403, `${fields.do} with ${JSON.stringify(headers)}`);
        assert.match(r.body, /only from the quarantine&#39;s own pages/);
      }
    }
    for (const m of [id, spare]) assert.deepEqual(await statuses(m), ['pending'], 'both still held');
    const page = await minePage();
    assert.doesNotMatch(page.body, /evil@attacker\.example/, 'nothing added to a list');

    // The page's own Delete button, submitted as a browser does: the ticket in the body, posted to the page's address.
    const row = page.body.split('<tr>').find((r) => r.includes(`name="id" value="${id}"`))!;
    const form = submission(row, mine, 'delete');
    assert.equal(form.target, mine);
    const deleted = await post(form.target, form.body, OWN_FORM);
    assert.equal(deleted.status, 303, deleted.body);
    assert.equal(await statuses(id), undefined, 'deleted');

    // Delete all: its asking page's form confirms, from the page's own origin named.
    const asked = await post(mine, submission(page.body, mine, 'delete-all').body, OWN_FORM);
    assert.equal(asked.status, 200, asked.body);
    const confirm = submission(asked.body, mine, 'delete-all');
    assert.equal((await post(confirm.target, confirm.body, { origin: LINK_BASE, 'sec-fetch-site': 'same-origin' })).status, 303);
    assert.equal(await statuses(spare), undefined, 'deleted by the confirmed Delete all');
  });

  it('the page and the preview still open from the query\'s ticket, as the digest\'s links do', async () => {
    const id = await hold('hold-me: views');
    const page = await minePage();
    assert.equal(page.status, 200);
    assert.match(page.body, /hold-me: views/);
    const preview = await request(port, ca, 'GET', `/quarantine/preview?${new URLSearchParams({ t: ann, id })}`, undefined, { 'sec-fetch-site': 'cross-site' });
    assert.equal(preview.status, 200, 'a GET changes nothing: a link from a mail client is another site, and welcome');
    assert.equal((await request(port, ca, 'GET', target(links(id).release))).status, 200);
  });

  it('a link_base a reload changed is the pages\' only origin from the next request', async () => {
    const cfg = g.gateway.runtime.config;
    const moved = 'https://quarantine.example.com';
    assert.equal(await g.gateway.reload(await validateConfig({ ...cfg, quarantine_digest: { ...cfg.quarantine_digest, link_base: `${moved}/` } })), true);
    const id = await hold('hold-me: link_base moved');
    const t = ticketIn(links(id).delete);
    const stale: Answer = await post('/quarantine/delete', { t }, { origin: LINK_BASE });
    assert.equal(stale.status, 403, 'a link_base no longer in the config is another origin');
    assert.deepEqual(await statuses(id), ['pending']);
    assert.equal((await post('/quarantine/delete', { t }, { origin: moved, 'sec-fetch-site': 'same-origin' })).status, 303);
    assert.equal(await statuses(id), undefined, 'deleted');
  });
});
