// The recipient's page at volume, with real parts: 450 messages held for one mailbox (sent over SMTP to a gateway whose
// rule quarantines them), a recording smarthost, and HTTPS requests that trust only the gateway's certificate. The
// pages, followed by their own links, list every message once, newest first; ticked boxes release or delete several
// in one POST; "Delete all" asks first, then empties this mailbox's quarantine only.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import type { RelayingGateway } from '../../helpers/gateway.ts';
import { startHoldingGateway } from './holding-gateway.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { loadTicketKey, signRecipientTicket } from '../../../core/quarantine/ticket.ts';
import { PAGE_MAX } from '../../../core/quarantine/paging.ts';
import { askForm, request } from './https-form.ts';

const HELD = 450;
/** The ids a page offers to select, in its order. */
const selectable = (body: string) => [...body.matchAll(/name="ids" value="([0-9a-z]+)"/g)].map((m) => m[1]);
/** The links of a page's page list, by their text. */
const pageLinks = (body: string) => new Map([...body.matchAll(/<a href="(mine\?[^"]+)">([^<]+)<\/a>/g)]
  .filter((m) => /page=/.test(m[1])).map((m) => [m[2], m[1].replace(/&amp;/g, '&')]));

describe('the recipient page at volume: pages, bulk actions, delete all', function () {
  this.timeout(120_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  let ann: string;
  let bob: string;
  /** Ann's held messages' ids, newest first, as the gateway took them. */
  let annIds: string[];
  let bobIds: string[];

  const ask = (method: 'GET' | 'POST', p: string, fields: Record<string, string>) => askForm(port, ca, method, p, fields);
  /** A POST to the list of a form whose field repeats (the ticked boxes), its 303 followed as a browser does. */
  async function askFormPairs(fields: Array<[string, string]>) {
    const first = await request(port, ca, 'POST', '/quarantine/mine', new URLSearchParams(fields).toString());
    const location = first.headers.location;
    if (first.status !== 303 || typeof location !== 'string') return first;
    return { ...await request(port, ca, 'GET', `/quarantine/${location}`), redirect: { status: 303, location } };
  }
  const heldFor = async (id: string) => (await g.gateway.runtime.queue.load(id, 'quarantine'))?.recipients.filter((r) => r.status === 'pending').map((r) => r.address) ?? [];

  before(async () => {
    ({ g, port, ca } = await startHoldingGateway('^hold-me'));
    const key = loadTicketKey(g.dataDir);
    ann = signRecipientTicket(key, { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
    bob = signRecipientTicket(key, { address: 'bob@example.com', expires: Date.now() + 3_600_000 });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true, pool: true, maxConnections: 4 });
    const send = async (to: string[], subject: string) => /queued as (\S+)/.exec((await t.sendMail({ from: 'bulk@spam.example', to, subject, text: 'x' })).response)![1];
    try {
      bobIds = await Promise.all([send(['bob@example.com'], 'hold-me: bob 1'), send(['bob@example.com'], 'hold-me: bob 2')]);
      // One message held for both: Ann's "delete all" must leave Bob's part of it held.
      const shared = await send(['ann@example.com', 'bob@example.com'], 'hold-me: both');
      bobIds.push(shared);
      const own = await Promise.all(Array.from({ length: HELD - 1 }, (_, i) => send(['ann@example.com'], `hold-me: ann ${i}`)));
      annIds = [shared, ...own];
    } finally { t.close(); }
  });
  after(() => g?.stop());

  it(`pages 1, 2 and 3 (followed by their own links) list each of ${HELD} held messages once, newest first`, async () => {
    const first = await ask('GET', '/quarantine/mine', { t: ann });
    assert.equal(first.status, 200, first.body);
    assert.match(first.body, new RegExp(`${HELD} message\\(s\\) addressed to you are held .*Newest first\\.`));
    assert.match(first.body, new RegExp(`Page 1 of 3: messages 1 to ${PAGE_MAX} of ${HELD}`));
    const seen = [selectable(first.body)];
    let body = first.body;
    for (const n of [2, 3]) {
      const link = pageLinks(body).get('Older »');
      assert.ok(link, `page ${n - 1} links to page ${n}`);
      assert.equal(new URL(link, 'https://x/quarantine/').searchParams.get('t'), ann, 'the link keeps the ticket');
      const next = await request(port, ca, 'GET', `/quarantine/${link}`);
      assert.equal(next.status, 200);
      assert.match(next.body, new RegExp(`Page ${n} of 3: messages ${(n - 1) * PAGE_MAX + 1} to ${Math.min(n * PAGE_MAX, HELD)} of ${HELD}`));
      seen.push(selectable(next.body));
      body = next.body;
    }
    assert.deepEqual(seen.map((s) => s.length), [PAGE_MAX, PAGE_MAX, HELD - 2 * PAGE_MAX]);
    const all = seen.flat();
    assert.equal(new Set(all).size, HELD, 'no message on two pages');
    assert.deepEqual([...all].sort(), [...annIds].sort(), 'every one of Ann\'s, none of Bob\'s alone');
    // Newest first: the order the gateway stored them in, by time then id.
    const entries = await Promise.all(all.map((id) => g.gateway.runtime.queue.load(id, 'quarantine')));
    const times = entries.map((e) => e!.receivedAt);
    assert.deepEqual(times, [...times].sort((a, b) => b - a));
    assert.ok(!pageLinks(body).has('Older »'), 'the last page links to no older one');
    // A page past the last shows the last; nonsense shows the first.
    assert.deepEqual(selectable((await ask('GET', '/quarantine/mine', { t: ann, page: '99' })).body), seen[2]);
    assert.deepEqual(selectable((await ask('GET', '/quarantine/mine', { t: ann, page: '-1' })).body), seen[0]);
  });

  it('a bulk release of 3 ticked messages delivers exactly those, and one already gone is counted, not refused', async () => {
    const page2 = await ask('GET', '/quarantine/mine', { t: ann, page: '2' });
    const [a, b, c, d] = selectable(page2.body);
    // d is deleted first (as through its digest link): the bulk release then finds it gone.
    const gone = await ask('POST', '/quarantine/mine', { t: ann, id: d, do: 'delete', page: '2' });
    assert.equal(gone.status, 200);
    const subjects = (ids: string[]) => Promise.all(ids.map(async (id) => /^Subject: (.*)\r$/m.exec((await g.gateway.runtime.queue.readHead(id, 'quarantine', 4096)).toString('latin1'))?.[1]));
    const ticked = await subjects([a, b, c]);
    const before = g.sink.messages.length;
    const released = await askFormPairs([['t', ann], ['page', '2'], ['do', 'release-selected'], ['ids', a], ['ids', b], ['ids', c], ['ids', d]]);
    assert.equal(released.redirect?.status, 303);
    assert.match(released.redirect!.location, /page=2/, 'back to the page the form was on');
    assert.equal(released.status, 200, released.body);
    assert.match(released.body, /<h2>Released<\/h2>\n<p>3 message\(s\) released: on their way to ann@example\.com\.<\/p>\n<p>1 message\(s\) were no longer held for you/);
    await waitUntil('three released copies at the smarthost', () => g.sink.messages.length >= before + 3);
    const copies = g.sink.messages.slice(before);
    assert.deepEqual(copies.map((m) => m.rcptTo), [['ann@example.com'], ['ann@example.com'], ['ann@example.com']]);
    assert.deepEqual(copies.map((m) => /^Subject: (.*)\r$/m.exec(m.raw.toString('latin1'))![1]).sort(), ticked.sort(), 'exactly the three ticked');
    for (const id of [a, b, c, d]) assert.deepEqual(await heldFor(id), []);
    assert.ok(g.logs.some((l) => l.msg === 'quarantine release of several by a recipient\'s page' && l.done === 3 && l.gone === 1));

    // Nothing ticked, or something not an id: refused, nothing done.
    assert.equal((await askFormPairs([['t', ann], ['do', 'delete-selected']])).status, 400);
    assert.equal((await askFormPairs([['t', ann], ['do', 'delete-selected'], ['ids', '../../etc/passwd']])).status, 400);
    // Bob's ticket cannot delete Ann's messages by naming them: they are not held for his mailbox.
    const [e1] = selectable((await ask('GET', '/quarantine/mine', { t: ann })).body);
    const bobTries = await askFormPairs([['t', bob], ['do', 'delete-selected'], ['ids', e1]]);
    assert.match(bobTries.body, /0 message\(s\) deleted for bob@example\.com\.<\/p>\n<p>1 message\(s\) were no longer held for you/);
    assert.deepEqual(await heldFor(e1), ['ann@example.com']);
    // A bulk POST with GET: nothing acts on a GET.
    assert.equal((await ask('GET', '/quarantine/mine', { t: ann, do: 'delete-selected', ids: e1 })).status, 200);
    assert.deepEqual(await heldFor(e1), ['ann@example.com']);
  });

  it('delete all asks first, then empties this mailbox\'s quarantine only', async () => {
    const left = HELD - 4;
    const asked = await ask('POST', '/quarantine/mine', { t: ann, do: 'delete-all' });
    assert.equal(asked.status, 200, 'a page that asks, not a 303: nothing was done');
    assert.match(asked.body, new RegExp(`Delete all ${left} message\\(s\\) held in the quarantine for ann@example\\.com\\? .*cannot be undone`));
    assert.equal(selectable((await ask('GET', '/quarantine/mine', { t: ann })).body).length, PAGE_MAX, 'asking deleted nothing');
    const upto = /name="upto" value="(\d+)"/.exec(asked.body)![1];
    const done = await ask('POST', '/quarantine/mine', { t: ann, do: 'delete-all', confirm: '1', upto });
    assert.equal(done.redirect?.status, 303);
    assert.match(done.body, new RegExp(`<h2>Deleted</h2>\\n<p>${left} message\\(s\\) deleted for ann@example\\.com\\.</p>`));
    assert.match(done.body, /No mail addressed to you is held in the quarantine now\./);
    for (const id of annIds) assert.ok(!(await heldFor(id)).includes('ann@example.com'));
    const bobPage = await ask('GET', '/quarantine/mine', { t: bob });
    assert.deepEqual(selectable(bobPage.body).sort(), [...bobIds].sort(), 'Bob\'s messages stay, the shared one included');
    assert.deepEqual(await heldFor(annIds[0]), ['bob@example.com']);
    // A confirmation without its time is refused.
    assert.equal((await ask('POST', '/quarantine/mine', { t: bob, do: 'delete-all', confirm: '1' })).status, 400);
    assert.equal(selectable((await ask('GET', '/quarantine/mine', { t: bob })).body).length, 3);
  });

  it('a tampered or missing ticket is refused on every new route and action, and HTTPS headers stay', async () => {
    const [id] = bobIds;
    const tampered = `${bob.slice(0, -2)}${bob.endsWith('A') ? 'B' : 'A'}${bob.slice(-1)}`;
    for (const t of [tampered, '']) {
      const answers = [
        await ask('GET', '/quarantine/mine', { t, page: '2' }),
        await ask('GET', '/quarantine/preview', { t, id }),
        await askFormPairs([['t', t], ['do', 'release-selected'], ['ids', id]]),
        await askFormPairs([['t', t], ['do', 'delete-selected'], ['ids', id]]),
        await ask('POST', '/quarantine/mine', { t, do: 'delete-all' }),
        await ask('POST', '/quarantine/mine', { t, do: 'delete-all', confirm: '1', upto: String(Date.now()) }),
      ];
      assert.deepEqual(answers.map((a) => a.status), new Array(answers.length).fill(403));
    }
    assert.deepEqual(await heldFor(id), ['bob@example.com']);
    const page = await ask('GET', '/quarantine/mine', { t: bob });
    assert.equal(page.headers['cache-control'], 'no-store');
    assert.equal(page.headers['strict-transport-security'], 'max-age=31536000');
    assert.equal(page.headers['content-security-policy'], "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    assert.ok(g.logs.every((l) => !JSON.stringify(l).includes(bob) && !JSON.stringify(l).includes(ann)), 'no ticket in the log');
  });
});
