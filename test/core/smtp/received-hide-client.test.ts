// server.received_for_authenticated through a real gateway and a real smarthost: hide_client writes a logged-in
// client's Received field without its HELO name and address (by, with ESMTPSA, id, for and date kept), and leaves
// every other client's as it was; full (the default) names the user's machine as before.
import assert from 'node:assert/strict';
import path from 'node:path';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { relayOne } from '../received-transaction.ts';
import { plainAuth } from './submission-auth.ts';

/** The gateway's own Received field: the first field of the relayed message, unfolded lines kept. */
function ownReceived(raw: string): string {
  const m = /^Received: [^\r]*(?:\r\n\t[^\r]*)*/.exec(raw);
  assert.ok(m, raw.slice(0, 300));
  return m[0];
}

async function start(mode?: string): Promise<RelayingGateway> {
  const gw = await startRelayingGateway({ config: mode ? { server: { received_for_authenticated: mode } } : {} });
  new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  return gw;
}

/** A message from alice's machine `home-pc.lan`: STARTTLS with the gateway's own certificate, EHLO, AUTH PLAIN. */
async function fromAlice(gw: RelayingGateway, subject: string, rcpt: string) {
  const d = await SmtpDialog.connect(gw.port);
  try {
    assert.equal((await d.hello({ helo: 'home-pc.lan' })).code, 250);
    assert.equal((await d.starttls()).code, 220);
    assert.equal((await d.cmd('EHLO home-pc.lan')).code, 250);
    assert.equal((await d.cmd(plainAuth('alice', 'right-password'))).code, 235);
    return await relayOne(gw, d, subject, rcpt);
  } finally {
    await d.quit();
  }
}

async function fromStranger(gw: RelayingGateway, subject: string) {
  const d = await SmtpDialog.connect(gw.port);
  try {
    assert.equal((await d.hello({ helo: 'mta.sender.test' })).code, 250);
    return await relayOne(gw, d, subject);
  } finally {
    await d.quit();
  }
}

describe('Received for a logged-in client (server.received_for_authenticated)', function () {
  this.timeout(30_000);

  describe('hide_client', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await start('hide_client'); });
    after(() => gw.stop());

    it('names neither the user\'s machine nor its address, and keeps by, with ESMTPSA, id, for and the date', async () => {
      const { raw, summary } = await fromAlice(gw, 'hidden', 'bob@elsewhere.test');
      const received = ownReceived(raw);
      assert.match(received, new RegExp(`^Received: from authenticated-user\\r\\n\\tby mx\\.test\\.example \\(Mailmoat\\) with ESMTPSA id ${summary.qid}\\r\\n\\tfor <bob@elsewhere\\.test>;\\r\\n\\t\\w{3}, \\d{2} \\w{3} \\d{4} \\d{2}:\\d{2}:\\d{2} \\+0000$`), received);
      assert.doesNotMatch(raw, /home-pc|127\.0\.0\.1/);
      // The log still has them, for the admin.
      assert.equal(summary.client, '127.0.0.1');
      assert.equal(summary.helo, 'home-pc.lan');
      assert.equal(summary.user, 'alice');
    });

    it('writes a client without a login in full', async () => {
      const { raw } = await fromStranger(gw, 'stranger-hidden-mode');
      assert.match(ownReceived(raw), /^Received: from mta\.sender\.test \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example \(Mailmoat\) with ESMTPS? id /);
    });
  });

  describe('full (the default)', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await start(); });
    after(() => gw.stop());

    it('names the user\'s machine and address, as before the option', async () => {
      const { raw } = await fromAlice(gw, 'full', 'bob@elsewhere.test');
      assert.match(ownReceived(raw), /^Received: from home-pc\.lan \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example \(Mailmoat\) with ESMTPSA id /);
    });
  });
});
