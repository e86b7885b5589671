// haraka-plugin-aliases from npm, unchanged, in the real gateway: its rewrite of transaction.rcpt_to in the rcpt hook
// becomes a core redirect, so the smarthost gets what the alias says and the client sees its own recipient accepted;
// its drop discards the whole message through queue/discard's hook, which the shim runs for that decision.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { message } from './setup.ts';

const ALIASES = {
  'sales@example.test': { action: 'alias', to: 'alice@example.test' },
  team: { action: 'alias', to: ['alice@example.test', 'bob@partner.example', 'carol@example.test'] },
  'info@example.test': { action: 'alias', to: 'helpdesk' },
  'void@example.test': { action: 'drop' },
  'partner@example.test': { action: 'alias', to: 'eve@partner.example' },
};

describe('haraka shim: haraka-plugin-aliases', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let gw: RelayingGateway;
  let release: () => void;

  before(async () => {
    // Every lookup (the shim's PTR of the client included) stays on loopback.
    dns = await startDnsServer({ zones: {} });
    const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-aliases-'));
    release = holdUntilExit({ dir });
    mkdirSync(path.join(dir, 'config'));
    const files: Record<string, string> = {
      plugins: 'aliases\nrcpt_to.in_host_list\n',
      'log.ini': '[main]\nlevel=WARN\n',
      host_list: 'example.test\n',
      // aliases.json, not aliases: haraka-config answers {} for a missing aliases.json, so the plugin never falls back.
      'aliases.json': JSON.stringify(ALIASES),
    };
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, 'config', name), text);
    gw = await startRelayingGateway({
      config: {
        domains: ['example.test'],
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'haraka', dir, dns_servers: [dns.address], timeout: '20s' }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await dns?.stop();
    release?.();
  });
  beforeEach(() => { gw.sink.messages.length = 0; });

  async function send(to: string[]): Promise<{ rcpt: SmtpReply[]; data?: SmtpReply }> {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'mail.example.org' });
    assert.equal((await d.cmd('MAIL FROM:<someone@example.org>')).code, 250);
    const rcpt: SmtpReply[] = [];
    for (const t of to) rcpt.push(await d.cmd(`RCPT TO:<${t}>`));
    const data = rcpt.some((r) => r.code === 250) ? await d.data(message({ from: 'someone@example.org', to: to[0] })) : undefined;
    await d.quit();
    return { rcpt, data };
  }

  it('an alias to one address: the smarthost gets that address, not the original', async () => {
    const r = await send(['sales@example.test']);
    assert.deepEqual(r.rcpt.map((x) => x.code), [250]);
    assert.equal(r.data?.code, 250, r.data?.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['alice@example.test']);
    const line = gw.logs.find((l) => l.msg === 'recipient redirected' && String(l.to) === 'sales@example.test')!;
    assert.deepEqual([line.targets, line.plugin], [['alice@example.test'], 'haraka']);
  });

  it('an alias to several addresses, one outside the local domains, matched by the local part and its +detail', async () => {
    const r = await send(['team+news@example.test', 'carol@example.test']);
    assert.deepEqual(r.rcpt.map((x) => x.code), [250, 250]);
    assert.equal(r.data?.code, 250, r.data?.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['alice@example.test', 'bob@partner.example', 'carol@example.test'], 'carol once');
  });

  it('an alias to a local part: the matched domain is kept', async () => {
    const r = await send(['info@example.test', 'dave@example.test']);
    assert.deepEqual(r.rcpt.map((x) => x.code), [250, 250]);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['helpdesk@example.test', 'dave@example.test']);
  });

  it('an address without alias goes as named', async () => {
    const r = await send(['dave@example.test']);
    assert.deepEqual(r.rcpt.map((x) => x.code), [250]);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['dave@example.test']);
    assert.ok(!gw.logs.some((l) => l.msg === 'recipient redirected' && String(l.to) === 'dave@example.test'));
  });

  // aliases' drop sets transaction.notes.discard and says CONT; queue/discard, which aliases inherits, then drops the
  // whole message at Haraka's queue step, while the client hears 250 for it (the plugin's "pretend we delivered").
  it('a drop: every RCPT and the message get 250, and no recipient gets the message, as in Haraka', async () => {
    const r = await send(['void@example.test', 'dave@example.test']);
    assert.deepEqual(r.rcpt.map((x) => x.code), [250, 250]);
    assert.equal(r.data?.code, 250, r.data?.text);
    await gw.gateway.runtime.delivery.idle();
    assert.equal(gw.sink.messages.length, 0);
    const qid = /queued as (\S+)/.exec(r.data!.text)![1];
    const asked = gw.logs.find((l) => l.msg === 'haraka plugin asked to discard the message' && l.qid === qid);
    assert.deepEqual([asked?.haraka_plugin, asked?.via], ['aliases', 'transaction.notes.discard']);
    const dropped = gw.logs.filter((l) => l.msg === 'recipient discarded' && l.qid === qid);
    assert.deepEqual(dropped.map((l) => String(l.to)).sort(), ['dave@example.test', 'void@example.test']);
    assert.ok(dropped.every((l) => l.reason === 'haraka plugin aliases: transaction.notes.discard'), JSON.stringify(dropped));
  });

  it('a drop of the only recipient: accepted, and nothing reaches the smarthost', async () => {
    const r = await send(['void@example.test']);
    assert.deepEqual(r.rcpt.map((x) => x.code), [250]);
    assert.equal(r.data?.code, 250, r.data?.text);
    await gw.gateway.runtime.delivery.idle();
    assert.equal(gw.sink.messages.length, 0);
  });

  it('the discard ends with its transaction: the next message of the same connection is delivered', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'mail.example.org' });
    for (const to of ['void@example.test', 'dave@example.test']) {
      assert.equal((await d.cmd('MAIL FROM:<someone@example.org>')).code, 250);
      assert.equal((await d.cmd(`RCPT TO:<${to}>`)).code, 250);
      const r = await d.data(message({ from: 'someone@example.org', to }));
      assert.equal(r.code, 250, r.text);
    }
    await d.quit();
    const [m] = await gw.sink.waitFor(1);
    await gw.gateway.runtime.delivery.idle();
    assert.equal(gw.sink.messages.length, 1);
    assert.deepEqual(m.rcptTo, ['dave@example.test']);
  });

  it('a drop beside an alias outside the local domains is delivered to all, as queue/discard skips queue.wants=outbound', async () => {
    // aliases sets queue.wants=outbound when an alias (its first target) leads to another domain, and queue/discard
    // leaves such a message to the queue plugin that wants it.
    const r = await send(['void@example.test', 'partner@example.test']);
    assert.deepEqual(r.rcpt.map((x) => x.code), [250, 250]);
    assert.equal(r.data?.code, 250, r.data?.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['void@example.test', 'eve@partner.example']);
  });

  it('aliases\' inherited queue hooks are not reported as idle at start: the shim runs queue/discard\'s', () => {
    assert.ok(gw.logs.some((l) => l.msg === 'haraka plugins loaded'));
    assert.ok(!gw.logs.some((l) => /haraka plugin aliases/.test(String(l.msg)) && /never run/.test(String(l.msg))), 'no idle-hook line for aliases');
  });
});
