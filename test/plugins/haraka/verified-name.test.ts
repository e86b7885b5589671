// connection.remote.host for Haraka plugins once the ptr plugin has confirmed the client's name: the verified name
// replaces the name XCLIENT gave and the shim's own PTR lookup, from MAIL FROM on; without one they stay, and
// remote.is_private does not change. Through a real gateway, a loopback DNS server and a Haraka plugin in a folder.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startDnsServer, type DnsTestServer } from '../../helpers/dns-server.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';

describe('haraka shim: connection.remote.host is the verified client name when there is one', function () {
  this.timeout(30_000);
  let dns: DnsTestServer;
  let gw: TestGateway;
  let dir: string;
  let removeDir: () => void;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haraka-verified-name-'));
    removeDir = holdUntilExit({ dir });
    fs.mkdirSync(path.join(dir, 'config'));
    fs.mkdirSync(path.join(dir, 'plugins'));
    fs.writeFileSync(path.join(dir, 'config', 'plugins'), 'see_host\n');
    // Keeps the name seen at EHLO, and answers each RCPT with what a plugin deciding on the client's name sees there.
    fs.writeFileSync(path.join(dir, 'plugins', 'see_host.js'), `
exports.hook_ehlo = function (next, connection) {
  connection.notes.host_at_ehlo = connection.remote.host;
  next();
};
exports.hook_rcpt = function (next, connection) {
  const r = connection.remote;
  next(DENYSOFT, 'ehlo=' + connection.notes.host_at_ehlo + ' rcpt=' + r.host + ' info=' + r.info + ' private=' + r.is_private + ' local=' + r.is_local);
};
`);
    dns = await startDnsServer({
      zones: {
        // .2: its PTR resolves back; .3: its PTR names a host elsewhere; .4: two PTRs, the first not resolving back.
        '0.0.127.in-addr.arpa': {
          '2': { PTR: 'confirmed.example.test' },
          '3': { PTR: 'liar.example.test' },
          '4': { PTR: ['stray.example.test', 'mx4.example.test'] },
        },
        'example.test': {
          confirmed: { A: '127.0.0.2' }, liar: { A: '192.0.2.99' }, stray: { A: '192.0.2.98' }, mx4: { A: '127.0.0.4' },
        },
      },
    });
    gw = await startGateway({
      config: {
        dns: { servers: [dns.address], timeout: '500ms', tries: 1 },
        // ptr before the shim: it names the client at MAIL FROM, before the shim's own mail hook runs.
        plugins: [{ name: 'ptr', mode: 'score', fcrdns: true }, { name: 'haraka', dir }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await dns?.stop();
    removeDir?.();
  });

  /** What the Haraka plugin saw of a client XCLIENT presents as `addr` with `name`. */
  async function seen(addr: string, name?: string): Promise<string> {
    const d = await SmtpDialog.connect(gw.port);
    try {
      assert.equal((await d.hello({ helo: 'proxy.test', xclient: { addr, name, helo: 'client.test' } })).code, 250);
      assert.equal((await d.cmd('MAIL FROM:<a@client.test>')).code, 250);
      const r = await d.cmd('RCPT TO:<user@example.com>');
      assert.equal(r.code, 450, r.text);
      return r.text;
    } finally {
      await d.quit();
    }
  }

  it('replaces the name XCLIENT gave once ptr confirmed another', async () => {
    assert.match(await seen('127.0.0.2', 'given.example.test'),
      /ehlo=given\.example\.test rcpt=confirmed\.example\.test info=confirmed\.example\.test private=true local=true$/);
  });

  it('replaces the shim\'s own PTR lookup, which takes the first name whether it resolves back or not', async () => {
    assert.match(await seen('127.0.0.4'), /ehlo=stray\.example\.test rcpt=mx4\.example\.test info=mx4\.example\.test private=true local=true$/);
  });

  it('keeps the name XCLIENT gave when no name could be confirmed', async () => {
    assert.match(await seen('127.0.0.3', 'given.example.test'),
      /ehlo=given\.example\.test rcpt=given\.example\.test info=given\.example\.test private=true local=true$/);
  });
});
