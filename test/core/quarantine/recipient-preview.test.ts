// The preview of one held message, from the recipient's list with its ticket, over HTTPS to a real gateway that
// quarantined the message from SMTP: the header fields, the text (an HTML-only message's HTML made text, never
// rendered), the attachments' names, types and sizes, every value escaped; scripts, images and links stay inert text.
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import type { RelayingGateway } from '../../helpers/gateway.ts';
import { startHoldingGateway } from './holding-gateway.ts';
import { loadTicketKey, signRecipientTicket, signTicket } from '../../../core/quarantine/ticket.ts';
import { askForm } from './https-form.ts';

type Mail = Parameters<ReturnType<typeof nodemailer.createTransport>['sendMail']>[0];

const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

describe('the preview of a held message', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let ca: Buffer;
  let port: number;
  let ann: string;
  const ask = (fields: Record<string, string>) => askForm(port, ca, 'GET', '/quarantine/preview', fields);

  async function hold(mail: Mail): Promise<string> {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    try { return /queued as (\S+)/.exec((await t.sendMail(mail)).response)![1]; } finally { t.close(); }
  }

  beforeEach(async () => {
    ({ g, port, ca } = await startHoldingGateway('hold-me'));
    ann = signRecipientTicket(loadTicketKey(g.dataDir), { address: 'ann@example.com', expires: Date.now() + 3_600_000 });
  });
  afterEach(() => g.stop());

  it('shows an HTML message as escaped text: no script, image, style or link of the sender\'s reaches the page', async () => {
    const id = await hold({
      from: '"Prize <b>Team</b>" <prize@lottery.example>', to: 'ann@example.com', subject: 'hold-me: <i>you won</i> & more',
      html: '<html><head><style>body{background:url(https://track.example/bg.png)}</style><script>steal(document.cookie)</script></head>'
        + '<body><p>Dear winner,</p><p>Type &lt;script&gt;alert(1)&lt;/script&gt; to claim.</p><img src="https://track.example/pixel.gif">'
        + '<a href="https://evil.example/claim">Claim now</a><iframe src="https://evil.example/frame"></iframe></body></html>',
      attachments: [{ filename: 'invoice<1>.pdf.exe', content: Buffer.alloc(3000, 0x4d), contentType: 'application/x-msdownload' }],
    });
    const list = await askForm(port, ca, 'GET', '/quarantine/mine', { t: ann });
    const href = /<a href="(preview\?[^"]+)">/.exec(list.body)?.[1].replace(/&amp;/g, '&');
    assert.ok(href, 'the list links each subject to its preview');
    const link = new URL(href, 'https://x/quarantine/');
    assert.equal(link.searchParams.get('id'), id);
    assert.equal(link.searchParams.get('t'), ann, 'with the same ticket');

    const p = await ask(Object.fromEntries(link.searchParams));
    assert.equal(p.status, 200, p.body);
    assert.equal(p.headers['content-security-policy'], CSP, 'the CSP forbids what it always did');
    assert.equal(p.headers['cache-control'], 'no-store');
    assert.equal(p.headers['referrer-policy'], 'no-referrer');
    assert.match(p.body, /<th>From<\/th><td>&quot;Prize &lt;b&gt;Team&lt;\/b&gt;&quot; &lt;prize@lottery\.example&gt;<\/td>/);
    assert.match(p.body, /<th>To<\/th><td>ann@example\.com<\/td>/);
    assert.match(p.body, /<th>Subject<\/th><td>hold-me: &lt;i&gt;you won&lt;\/i&gt; &amp; more<\/td>/);
    assert.match(p.body, /<th>Date<\/th><td>[^<]+\d{4}/);
    const text = /<pre>([\s\S]*)<\/pre>/.exec(p.body)?.[1] ?? '';
    assert.match(text, /Dear winner,/, p.body);
    assert.match(text, /Type &lt;script&gt;alert\(1\)&lt;\/script&gt; to claim\./, 'text that reads as markup is shown, escaped');
    assert.doesNotMatch(text, /steal\(document\.cookie\)|background:url/, 'script and style content is no text');
    assert.match(p.body, /<td>invoice&lt;1&gt;\.pdf\.exe<\/td><td>application\/x-msdownload<\/td><td>2\.9 KB<\/td>/);
    // Nothing of the sender's is markup: the page's only tags are its own.
    assert.doesNotMatch(p.body, /<(?:script|img|iframe|link|object|embed)\b/i);
    assert.equal(p.body.match(/<style/g)?.length, 1, 'the page\'s own style only');
    assert.doesNotMatch(p.body, /track\.example/, 'no remote image or background named, let alone loaded');
    assert.doesNotMatch(p.body, /href="https?:/i, 'no link of the sender\'s is clickable');
    assert.deepEqual([...p.body.matchAll(/<a href="([^"]+)"/g)].map((m) => m[1].split('?')[0]), ['mine'], 'the one link goes back to the list');
    // Its buttons post to the list, with the ticket in the body.
    assert.match(p.body, /<form method="post" action="mine"><input type="hidden" name="t" value="[^"]+"><input type="hidden" name="id" value="[0-9a-z]+">/);
  });

  it('shows the plain part beside an HTML one, cut to a sane length', async () => {
    const line = 'All work and no play makes a long message. ';
    await hold({ from: 'a@spam.example', to: 'ann@example.com', subject: 'hold-me: long', text: line.repeat(2000), html: `<p>${'<b>html</b> '.repeat(10)}</p>` });
    const [id] = [...(await askForm(port, ca, 'GET', '/quarantine/mine', { t: ann })).body.matchAll(/name="id" value="([0-9a-z]+)"/g)].map((m) => m[1]);
    const p = await ask({ t: ann, id });
    assert.equal(p.status, 200);
    const text = /<pre>([\s\S]*)<\/pre>/.exec(p.body)![1];
    assert.match(text, /^All work and no play/);
    assert.doesNotMatch(text, /html/);
    assert.ok(text.length <= 20_000 && text.length > 19_000, `cut near 20,000 characters, not ${text.length}`);
    assert.match(p.body, /The text is cut here: the message is longer\./);
    assert.match(p.body, /<p>No attachments\.<\/p>/);
  });

  it('is the ticket\'s mailbox\'s only: another recipient, a message ticket, a tampered one, a POST or a gone message are refused', async () => {
    const id = await hold({ from: 'a@spam.example', to: 'ann@example.com', subject: 'hold-me: mine', text: 'private' });
    const key = loadTicketKey(g.dataDir);
    const bob = signRecipientTicket(key, { address: 'bob@example.com', expires: Date.now() + 3_600_000 });
    const bobs = await ask({ t: bob, id });
    assert.equal(bobs.status, 410);
    assert.doesNotMatch(bobs.body, /private/);
    const messageTicket = signTicket(key, { id, address: 'ann@example.com', expires: Date.now() + 3_600_000, action: 'release' });
    assert.equal((await ask({ t: messageTicket, id })).status, 403);
    assert.equal((await ask({ t: `${ann.slice(0, 10)}x${ann.slice(11)}`, id })).status, 403);
    assert.equal((await ask({ t: ann, id: '../../etc/passwd' })).status, 400);
    assert.equal((await askForm(port, ca, 'POST', '/quarantine/preview', { t: ann, id })).status, 405, 'GET only');
    assert.equal((await ask({ t: ann, id })).status, 200);
    await askForm(port, ca, 'POST', '/quarantine/mine', { t: ann, id, do: 'delete' });
    assert.equal((await ask({ t: ann, id })).status, 410);
  });
});
