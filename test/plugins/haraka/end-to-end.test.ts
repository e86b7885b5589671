// Real Haraka plugins from npm, unchanged, in one chain inside the real gateway: SMTP with XCLIENT, loopback DNS, Redis.
import assert from 'node:assert/strict';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { startWorld, IP, message, type ShimWorld } from './setup.ts';

describe('haraka shim end to end (rcpt_to.in_host_list, headers, mail_from.is_resolvable, spf, dns-list, greylist, karma, attachment)', function () {
  this.timeout(30_000);
  let world: ShimWorld;
  let gw: RelayingGateway;

  before(async () => {
    world = await startWorld();
    gw = await startRelayingGateway({
      config: {
        domains: ['example.test'],
        dns: { servers: [world.dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'haraka', dir: world.dir, dns_servers: [world.dns.address], timeout: '20s', log_level: 'INFO' }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await world?.stop();
  });

  async function client(ip: string, helo = 'mail.example.org'): Promise<{ d: SmtpDialog; hello: number; text: string }> {
    const d = await SmtpDialog.connect(gw.port);
    const r = await d.hello({ helo, xclient: { addr: ip, helo } });
    return { d, hello: r.code, text: r.text };
  }

  async function send(ip: string, from: string, raw: string, rcpt = 'bob@example.test') {
    const { d } = await client(ip);
    const mail = await d.cmd(`MAIL FROM:<${from}>`);
    const to = await d.cmd(`RCPT TO:<${rcpt}>`);
    const data = mail.code === 250 && to.code === 250 ? await d.data(raw) : undefined;
    await d.quit();
    return { mail, rcpt: to, data };
  }

  it('relays a clean message with the headers the Haraka plugins added', async () => {
    const before = gw.sink.messages.length;
    const r = await send(IP.clean, 'alice@example.org', message());
    assert.equal(r.mail.code, 250, r.mail.text);
    assert.equal(r.rcpt.code, 250, r.rcpt.text);
    assert.equal(r.data?.code, 250, r.data?.text);
    const [m] = (await gw.sink.waitFor(before + 1)).slice(before);
    const raw = m.raw.toString();
    assert.match(raw, /^Received-SPF: Pass \(domain of example\.org designates 93\.184\.216\.1/m);
    assert.match(raw, /^X-Haraka-Karma: score: /m);
    // a plain plugin in the vm sandbox saw spf's header and greylist/rcpt_ok ran before it
    assert.match(raw, /^X-Haraka-Test-Marker: undefined spf-header-seen bob@example\.test/m);
  });

  it('refuses a DNSBL-listed client at connect and keeps refusing every command', async () => {
    const { d, hello, text } = await client(IP.listed);
    assert.equal(hello, 554, text);
    assert.match(text, /bl\.test/);
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 554);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 554);
    await d.quit();
  });

  it('refuses a sender domain without MX (mail_from.is_resolvable)', async () => {
    const r = await send(IP.clean, 'carol@nomx.test', message({ from: 'carol@nomx.test' }));
    assert.equal(r.mail.code, 550, r.mail.text);
  });

  it('greylists the first try and accepts the retry after the black period', async () => {
    const first = await send(IP.grey, 'dave@example.org', message({ from: 'dave@example.org' }));
    assert.equal(first.mail.code, 250, first.mail.text);
    assert.equal(Math.floor(first.rcpt.code / 100), 4, `${first.rcpt.code} ${first.rcpt.text}`);
    assert.match(first.rcpt.text, /Greylisted/i);
    await new Promise((r) => setTimeout(r, 2100));
    const again = await send(IP.grey, 'dave@example.org', message({ from: 'dave@example.org' }));
    assert.equal(again.rcpt.code, 250, again.rcpt.text);
    assert.equal(again.data?.code, 250, again.data?.text);
  });

  it('refuses a forbidden attachment (attachment)', async () => {
    const r = await send(IP.clean, 'alice@example.org', message({ attachment: { name: 'invoice.exe', type: 'application/octet-stream' } }));
    assert.equal(r.data?.code, 550, r.data?.text);
    assert.match(r.data!.text, /exe/i);
    // The plugins' own lines about this message carry its qid, as the gateway's lines do.
    const refused = gw.logs.find((l) => l.msg === 'message refused' || (typeof l.reply === 'string' && /exe/i.test(l.reply) && l.qid));
    assert.ok(refused?.qid, 'the gateway logged the refusal under a qid');
    const pluginLines = gw.logs.filter((l) => l.haraka_plugin && l.qid === refused!.qid);
    assert.ok(pluginLines.length > 0, `no Haraka plugin line under qid ${refused!.qid}: ${JSON.stringify(gw.logs.filter((l) => l.haraka_plugin).slice(-5))}`);
  });

  it('refuses a header violation (headers: duplicate Subject)', async () => {
    const r = await send(IP.clean, 'alice@example.org', message({ extraHeaders: ['Subject: second subject'] }));
    assert.equal(r.data?.code, 550, r.data?.text);
    assert.match(r.data!.text, /Subject/i);
  });

  it('karma\'s score reflects the other plugins\' results (SPF neutral scores lower than pass)', async () => {
    const before = gw.sink.messages.length;
    const pass = await send(IP.clean, 'alice@example.org', message());
    const neutral = await send(IP.clean, 'erin@neutral.org', message({ from: 'erin@neutral.org' }));
    assert.equal(pass.data?.code, 250, pass.data?.text);
    assert.equal(neutral.data?.code, 250, neutral.data?.text);
    const msgs = (await gw.sink.waitFor(before + 2)).slice(before);
    const score = (raw: string) => Number(/^X-Haraka-Karma: score: (-?\d+)/m.exec(raw)?.[1]);
    const [a, b] = msgs.map((m) => m.raw.toString());
    const sa = score(a.includes('erin@') ? b : a);
    const sb = score(a.includes('erin@') ? a : b);
    assert.ok(Number.isFinite(sa) && Number.isFinite(sb), `${sa} ${sb}`);
    assert.ok(sb < sa, `pass ${sa}, neutral ${sb}`);
    // the finding carries karma's score into Mailmoat's verdict and logs
    assert.ok(gw.logs.some((l) => JSON.stringify(l).includes('HARAKA_KARMA')), 'HARAKA_KARMA finding logged');
  });
});
