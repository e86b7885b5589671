// Post/Redirect/Get on the quarantine pages: a POST that did something is answered 303 See Other to the page, which
// says what was done, so a browser's refresh asks again with GET (nothing happens twice, no 410 for the recipient's
// own success). With real parts: a gateway that quarantines mail sent to it over SMTP, a recording smarthost, HTTPS.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';
import { askForm, request, type Answer } from './https-form.ts';

/** One POST as a browser sends it, its answer not followed: the 303 itself. */
function postOnly(port: number, ca: Buffer, p: string, fields: Record<string, string>): Promise<Answer> {
  return request(port, ca, 'POST', p, new URLSearchParams(fields).toString());
}

describe('the quarantine pages answer a POST with 303 See Other, so a refresh does not post again', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;

  async function hold(to: string, subject: string): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try {
      const info = await t.sendMail({ from: 'prize@lottery.example', to, subject, text: 'You won!' });
      return /queued as (\S+)/.exec(info.response)![1];
    } finally { t.close(); }
  }
  const get = (p: string, query: string) => askForm(port, ca, 'GET', p, Object.fromEntries(new URLSearchParams(query)));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeEach(async () => {
    g = await startRelayingGateway({ config: {
      domains: ['example.com'],
      http: { listen: ['127.0.0.1:0'], tls: true },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [
        { name: 'user-lists' },
        { name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] },
      ],
    } });
    port = g.gateway.admin!.addresses[0].port;
    ca = readFileSync(path.join(g.dataDir, 'tls', 'self-signed.crt'));
  });
  afterEach(() => g.stop());

  it('the recipient page: release, always allow and list changes lead to the page, which says what was done; its refresh changes nothing', async () => {
    const first = await hold('ann@example.com', 'hold-me: one');
    const second = await hold('ann@example.com', 'hold-me: two');
    const ann = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 3_600_000 });

    const released = await postOnly(port, ca, '/quarantine/mine', { t: ann, id: first, do: 'release' });
    assert.equal(released.status, 303, released.body);
    const location = String(released.headers.location);
    // Relative to the page, so it works under whatever path link_base puts the pages; the ticket and the outcome only.
    assert.equal(location, `mine?${new URLSearchParams({ t: ann, did: 'released' })}`);
    assert.equal(released.headers['cache-control'], 'no-store');
    assert.equal(released.headers['referrer-policy'], 'no-referrer');
    await g.sink.waitFor(1);

    // The page the browser then shows, and shows again at each refresh: a GET, which releases nothing more.
    for (let refresh = 0; refresh < 3; refresh++) {
      const shown = await get('/quarantine/mine', location.slice('mine?'.length));
      assert.equal(shown.status, 200, shown.body);
      assert.match(shown.body, /<div role="status"><h2>Released<\/h2>\n<p>The message is on its way to ann@example\.com\.<\/p><\/div>/);
      assert.match(shown.body, /hold-me: two/);
      assert.doesNotMatch(shown.body, /hold-me: one/);
    }
    await sleep(300);
    assert.equal(g.sink.messages.length, 1, 'released once');

    // Always allow: the list change and the release, said on the page.
    const allowed = await askForm(port, ca, 'POST', '/quarantine/mine', { t: ann, id: second, do: 'allow' });
    assert.equal(allowed.redirect?.status, 303);
    assert.equal(allowed.status, 200);
    assert.match(allowed.body, /<h2>Allowed and released<\/h2>\n<p>prize@lottery\.example is on your allow list now\.<\/p>\n<p>The message is on its way to ann@example\.com\.<\/p>/);
    // No spf or dmarc plugin runs: the entry cannot count, and the notice says so where the eye is.
    assert.match(allowed.body, /its way to ann@example\.com\.<\/p>\n<p>Note: on this gateway your allow list does not let mail through for now,[^<]*<\/p><\/div>/);
    assert.match(allowed.body, /<h3>Allow list \(1\)<\/h3>/);
    // Typed entries: added (moved off the other list), removed.
    const moved = await askForm(port, ca, 'POST', '/quarantine/mine', { t: ann, do: 'add', list: 'block', entry: 'Prize@Lottery.example' });
    assert.equal(moved.redirect?.status, 303);
    assert.match(moved.body, /<h2>Added<\/h2>\n<p>prize@lottery\.example is on your block list now\. It is no longer on your allow list\.<\/p>/);
    const refreshed = await get('/quarantine/mine', moved.redirect!.url.split('?')[1]);
    assert.match(refreshed.body, /<h2>Added<\/h2>/, 'a refresh shows the same notice');
    assert.match(refreshed.body, /<h3>Block list \(1\)<\/h3>/);
    const removed = await askForm(port, ca, 'POST', '/quarantine/mine', { t: ann, do: 'remove', list: 'block', entry: 'prize@lottery.example' });
    assert.match(removed.body, /<h2>Removed<\/h2>\n<p>prize@lottery\.example is no longer on your block list\.<\/p>/);
    await sleep(300);
    assert.equal(g.sink.messages.length, 2, 'each release once');

    // Refusals stay answers of their own, with their codes: nothing was done to show on the page.
    assert.equal((await postOnly(port, ca, '/quarantine/mine', { t: ann, id: second, do: 'release' })).status, 410);
    assert.equal((await postOnly(port, ca, '/quarantine/mine', { t: ann, do: 'add', list: 'block', entry: 'not an entry' })).status, 400);
    // A query that says anything out of the ordinary shows no notice at all.
    const craftedQueries: Array<Record<string, string>> = [
      { did: 'added', list: 'block', entry: '<script>@x.example' },
      { did: 'added', list: 'block', entry: 'Upper@Case.example' },
      { did: 'allowed', list: 'block', entry: 'a@b.example' },
      { did: 'exploded' },
    ];
    for (const crafted of craftedQueries) {
      const shown = await get('/quarantine/mine', new URLSearchParams({ t: ann, ...crafted }).toString());
      assert.equal(shown.status, 200);
      assert.doesNotMatch(shown.body, /role="status"/, JSON.stringify(crafted));
    }
  });

  it('the digest\'s message link: the POST leads to the link\'s page, which says it was done; refreshing it releases nothing more', async () => {
    const id = await hold('ann@example.com', 'hold-me: linked');
    const t = signTicket(loadTicketKey(g.dataDir), { id, address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    const done = await postOnly(port, ca, '/quarantine/release', { t });
    assert.equal(done.status, 303, done.body);
    assert.equal(done.headers.location, `release?${new URLSearchParams({ t, done: '1' })}`);
    for (let refresh = 0; refresh < 3; refresh++) {
      const shown = await get('/quarantine/release', String(done.headers.location).slice('release?'.length));
      assert.equal(shown.status, 200);
      assert.match(shown.body, /<h1>Released<\/h1>\n<p>The message is on its way to ann@example\.com\.<\/p>/);
    }
    await sleep(300);
    assert.equal(g.sink.messages.length, 1, 'released once');
    // The link itself, without the outcome, has nothing left to do.
    assert.equal((await get('/quarantine/release', new URLSearchParams({ t }).toString())).status, 410);

    // While the message is held, `done` says nothing: the page shows the message and its button.
    const other = await hold('ann@example.com', 'hold-me: still held');
    const t2 = signTicket(loadTicketKey(g.dataDir), { id: other, address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    const crafted = await get('/quarantine/delete', new URLSearchParams({ t: t2, done: '1' }).toString());
    assert.equal(crafted.status, 200);
    assert.match(crafted.body, /Delete this message for ann@example\.com\?/);
    const deleted = await askForm(port, ca, 'POST', '/quarantine/delete', { t: t2 });
    assert.equal(deleted.redirect?.status, 303);
    assert.match(deleted.body, /<h1>Deleted<\/h1>/);
  });
});
