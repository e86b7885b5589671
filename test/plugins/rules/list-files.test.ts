// List files in a real gateway, as an Rspamd admin's walkthrough used them: `client_ip: { list }` reads a file of IP
// addresses and networks; an address list with an IP line in it is warned of by file and line; a list file edited
// while the gateway runs is used from its next look (`list reloaded`), and a broken edit is refused while the list in
// use stays. Clients come by XCLIENT from the trusted loopback, mail goes to a recording smarthost.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

describe('plugins/rules list files in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  let dir: string;
  let ips: string;
  let senders: string;
  let n = 0;

  /** Writes a list file as an admin's script would: whole, then renamed over the old one. */
  function writeList(file: string, text: string): void {
    writeFileSync(`${file}.new`, text);
    renameSync(`${file}.new`, file);
  }

  /** One message from a client at `addr`, sender `from`: the reply to its DATA (or to MAIL FROM when that refused it). */
  async function sendFrom(addr: string, from = 'someone@client.example'): Promise<SmtpReply> {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ xclient: { addr } })).code, 250);
      assert.equal((await d.cmd(`MAIL FROM:<${from}>`)).code, 250);
      assert.equal((await d.cmd('RCPT TO:<ann@example.com>')).code, 250);
      return await d.data(testMessage({ from, subject: `list-${++n}` }));
    } finally { await d.quit(); }
  }

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-rule-lists-'));
    ips = path.join(dir, 'blocked-ips.txt');
    senders = path.join(dir, 'senders.txt');
    writeFileSync(ips, '# networks we refuse\n192.0.2.0/24\n2001:db8::/32   # documentation prefix\n\n203.0.113.9\n');
    writeFileSync(senders, 'spammer@bad.example\n192.0.2.0/24\n');
    gw = await startRelayingGateway({
      config: {
        plugins: [{
          name: 'rules', list_check: '100ms',
          // Declared with capitals, named in lower case: criteria compare list names without case.
          lists: { BlockedIPs: ips, senders },
          rules: [
            { name: 'blocked-ip', when: { client_ip: { list: 'blockedips' } }, actions: [{ reject: 'Your network is blocked here' }] },
            { name: 'blocked-sender', when: { from: { list: 'senders' } }, actions: [{ reject: 'Sender blocked' }] },
          ],
        }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('client_ip { list } refuses a client in a listed network or at a listed address, and takes any other', async () => {
    for (const addr of ['192.0.2.77', '203.0.113.9', '2001:db8::25']) {
      const r = await sendFrom(addr);
      assert.equal(r.code, 550, `${addr}: ${r.code} ${r.text}`);
      assert.match(r.text, /Your network is blocked here/);
    }
    const ok = await sendFrom('198.51.100.20');
    assert.equal(ok.code, 250, ok.text);
    const loaded = gw.logs.find((l) => l.msg === 'rules loaded');
    assert.deepEqual(loaded?.lists, { BlockedIPs: 3, senders: 2 });
  });

  it('an address list\'s IP line is warned of at start, by file and line, and the list still serves its addresses', async () => {
    const warning = gw.logs.find((l) => l.level === 'warn' && String(l.msg).includes('lists.senders'));
    assert.ok(warning, 'a warning names the list');
    assert.match(String(warning.msg), new RegExp(`^plugins\\[0\\]\\.lists\\.senders: ${senders.replace(/[.]/g, '\\.')}:2: "192\\.0\\.2\\.0/24" is an IP network, which never matches in a list of addresses and domains: list IP addresses in a list of their own, named by client_ip$`));
    const r = await sendFrom('198.51.100.21', 'spammer@bad.example');
    assert.equal(r.code, 550, r.text);
    assert.match(r.text, /Sender blocked/);
  });

  it('an edited list file is read again without a reload, and a broken edit leaves the list in use as it was', async () => {
    const client = '198.51.100.30';
    assert.equal((await sendFrom(client)).code, 250, 'not listed yet');
    const mark = gw.logs.length;
    writeList(ips, '192.0.2.0/24\n2001:db8::/32\n203.0.113.9\n198.51.100.0/24\n');
    const reloaded = await waitFor('list reloaded', () => gw.logs.slice(mark).find((l) => l.msg === 'list reloaded'));
    assert.equal(reloaded.list, 'BlockedIPs');
    assert.equal(reloaded.file, ips);
    assert.equal(reloaded.entries, 4);
    assert.equal(reloaded.previous_entries, 3);
    const now = await sendFrom(client);
    assert.equal(now.code, 550, now.text);

    // A typo (a /33 prefix) and a sender address in the IP list: refused whole, naming both lines.
    const before = gw.logs.length;
    writeList(ips, '192.0.2.0/24\n10.0.0.0/33\nadmin@example.org\n');
    const refused = await waitFor('list not reloaded', () => gw.logs.slice(before).find((l) => l.msg === 'list not reloaded: the list in use stays as it was'));
    assert.equal(refused.level, 'error');
    assert.equal(refused.list, 'BlockedIPs');
    assert.match(String(refused.error), new RegExp(`${ips.replace(/[.]/g, '\\.')}:2: not an IP address or CIDR: 10\\.0\\.0\\.0/33; `
      + `${ips.replace(/[.]/g, '\\.')}:3: not an IP address or CIDR: admin@example\\.org, and this list is named by client_ip: list addresses and domains in a list of their own, named by from or to`));
    const still = await sendFrom(client);
    assert.equal(still.code, 550, 'the list read before the broken edit is still in use');
    assert.ok(!gw.logs.slice(before).some((l) => l.msg === 'list reloaded'));

    // Mended, it is read again.
    const mended = gw.logs.length;
    writeList(ips, '192.0.2.0/24\n');
    const again = await waitFor('list reloaded after the mend', () => gw.logs.slice(mended).find((l) => l.msg === 'list reloaded'));
    assert.equal(again.entries, 1);
    assert.equal((await sendFrom(client)).code, 250, 'taken off the list');
  });
});
