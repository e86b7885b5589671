// The admin listener behind a reverse proxy that terminates TLS (nginx, HAProxy): X-Forwarded-For and -Proto are
// believed from http.trusted_proxies only. A real gateway quarantines a real message; the "proxy" is this test's HTTP
// client on loopback, trusted or not by config, sending the headers nginx's proxy_set_header lines send.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { ConfigError, validateConfig } from '../../../core/config/load.ts';
import { loadTicketKey, signTicket } from '../../../core/quarantine/ticket.ts';

interface Reply { status: number; body: string }

describe('admin HTTP listener behind a reverse proxy (http.trusted_proxies)', function () {
  this.timeout(60_000);
  let g: RelayingGateway;
  let qid: string;

  const request = async (p: string, headers: Record<string, string>, form?: Record<string, string>): Promise<Reply> => {
    const url = `http://127.0.0.1:${g.gateway.admin!.addresses[0].port}${p}`;
    const res = form
      ? await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() })
      : await fetch(url, { headers });
    return { status: res.status, body: await res.text() };
  };
  const trust = async (proxies: string[]) => {
    const cfg = g.gateway.runtime.config;
    assert.equal(await g.gateway.reload(await validateConfig({ ...cfg, http: { ...cfg.http, trusted_proxies: proxies } })), true);
  };
  const quarantined = () => readdirSync(path.join(g.dataDir, 'quarantine')).filter((f) => f.endsWith('.json'));
  const accessLine = (p: string) => g.logs.filter((r) => r.msg === 'http request' && r.path === p).at(-1);

  before(async () => {
    g = await startRelayingGateway({ config: {
      // Nothing on loopback is trusted yet: the test's client is an ordinary one until a reload names it.
      http: { listen: ['127.0.0.1:0'], allow_from: ['192.0.2.0/24'], trusted_proxies: ['10.0.0.0/8'] },
      quarantine_digest: { link_base: 'https://mail.example.com/' },
      plugins: [{ name: 'rules', rules: [{ name: 'hold', when: { subject: '^hold-me' }, actions: [{ quarantine: 'held for review' }] }] }],
    } });
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: g.port, secure: false, ignoreTLS: true });
    const info = await t.sendMail({ from: 'prize@lottery.example', to: ['ann@example.com'], subject: 'hold-me now', text: 'You won!' });
    t.close();
    qid = /queued as (\S+)/.exec(info.response)![1];
    assert.deepEqual(quarantined(), [`${qid}.json`]);
  });
  after(() => g?.stop());

  it('ignores forged X-Forwarded-For and -Proto from a peer that is not a trusted proxy', async () => {
    const forged = { 'x-forwarded-for': '192.0.2.7', 'x-forwarded-proto': 'https' };
    // allow_from is judged on the socket's address, 127.0.0.1, which it does not list.
    assert.equal((await request('/metrics', forged)).status, 403);
    const line = accessLine('/metrics');
    assert.equal(line?.client, '127.0.0.1');
    assert.equal(line?.proxy, undefined);
    // The quarantine pages still see plain HTTP, and release nothing.
    const ticket = signTicket(loadTicketKey(g.dataDir), { id: qid, address: 'ann@example.com', expires: Date.now() + 60_000 });
    const post = await request('/quarantine/release', forged, { t: ticket });
    assert.equal(post.status, 403);
    assert.match(post.body, /over HTTPS only/);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(g.sink.messages.length, 0);
    assert.deepEqual(quarantined(), [`${qid}.json`]);
  });

  it('from a trusted proxy, judges allow_from on the right-most untrusted X-Forwarded-For address and logs it', async () => {
    await trust(['127.0.0.1/32']);
    const ok = await request('/metrics', { 'x-forwarded-for': '198.51.100.9, 192.0.2.7' });
    assert.equal(ok.status, 200);
    assert.deepEqual([accessLine('/metrics')?.client, accessLine('/metrics')?.proxy], ['192.0.2.7', '127.0.0.1']);
    // A client that wrote an allowed address into its own header is still the address the proxy appended.
    assert.equal((await request('/metrics', { 'x-forwarded-for': '192.0.2.7, 198.51.100.9' })).status, 403);
    assert.equal(accessLine('/metrics')?.client, '198.51.100.9');
    // The proxy's own requests (no header) are judged on its address, which allow_from does not list.
    assert.equal((await request('/metrics', {})).status, 403);
  });

  it('from a trusted proxy, serves the quarantine pages when X-Forwarded-Proto says https, and not without it', async () => {
    await trust(['127.0.0.1/32']);
    const ticket = signTicket(loadTicketKey(g.dataDir), { id: qid, address: 'ann@example.com', expires: Date.now() + 60_000 });
    const plain = await request('/quarantine/release', { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'http' }, { t: ticket });
    assert.equal(plain.status, 403);
    assert.match(plain.body, /over HTTPS only/);
    const done = await request('/quarantine/release', { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-proto': 'https' }, { t: ticket });
    assert.equal(done.status, 200, done.body);
    const [released] = await g.sink.waitFor(1);
    assert.deepEqual(released.rcptTo, ['ann@example.com']);
    const action = g.logs.find((r) => r.msg === 'quarantine release by a recipient\'s link');
    assert.equal(action?.client, '203.0.113.5', 'the log names the recipient\'s address, not the proxy\'s');
    assert.ok(g.logs.every((l) => !JSON.stringify(l).includes(ticket)), 'no ticket in the log');
  });

  it('check-config takes trusted_proxies instead of http.tls for link_base, and refuses neither', async () => {
    const base = { data_dir: g.dataDir, quarantine_digest: { link_base: 'https://mail.example.com/' } };
    await validateConfig({ ...base, http: { listen: ['127.0.0.1:0'], trusted_proxies: ['10.0.0.1'] } });
    await validateConfig({ ...base, http: { listen: ['127.0.0.1:0'], tls: true } });
    await assert.rejects(validateConfig({ ...base, http: { listen: ['127.0.0.1:0'] } }), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.deepEqual(e.issues.map((i) => i.path), ['quarantine_digest.link_base']);
      assert.match(e.issues[0].message, /http\.tls: true, or with http\.trusted_proxies/);
      return true;
    });
  });
});
