// headers.outbound_without_verdict through a real gateway and a real smarthost: a user's mail to the world leaves
// without the gateway's X-Mailmoat-* fields (the verdict's and a plugin's), while inbound mail, and a user's mail to
// the local domains only, keeps them as before; relay.networks and an empty list as the admin chooses.
// This file is also the plugin that scores each message and adds one field in our namespace and one outside it.
import assert from 'node:assert/strict';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { definePlugin, s } from '../../../core/index.ts';
import { UsersFile } from '../../../core/auth/users-file.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

export default definePlugin({
  name: 'probe-fields',
  description: 'Test double: a finding and two header fields on every message',
  configSchema: s.object({}),
  symbols: { PROBE_SEEN: 'every message' },
  create: () => ({
    hooks: {
      data: (ctx) => {
        ctx.addFinding('PROBE_SEEN', 1.5);
        ctx.addHeader('X-Mailmoat-Probe', 'ours');
        ctx.addHeader('X-Probe-Other', 'a plugin\'s own');
      },
    },
  }),
});

const OWN = ['X-Mailmoat-Verdict', 'X-Mailmoat-Spam', 'X-Mailmoat-Spam-Score', 'X-Mailmoat-Spam-Level', 'X-Mailmoat-Probe'];

/** The names of the header fields of a relayed message, in order. */
function fieldNames(raw: string): string[] {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  return head.split('\r\n').filter((l) => /^[!-9;-~]+:/.test(l)).map((l) => l.slice(0, l.indexOf(':')));
}

const own = (raw: string) => fieldNames(raw).filter((n) => /^x-mailmoat-/i.test(n));

async function startWithUser(outbound?: string[]): Promise<RelayingGateway> {
  const gw = await startRelayingGateway({
    config: {
      relay: { networks: ['192.0.2.0/24'] },
      plugins: [{ name: 'probe-fields', module: import.meta.filename }],
      ...(outbound ? { headers: { outbound_without_verdict: outbound } } : {}),
    },
  });
  new UsersFile(path.join(gw.dataDir, 'users')).add('alice', 'right-password');
  return gw;
}

/** alice's message through nodemailer: STARTTLS with the gateway's own certificate, then AUTH. Returns its queue id. */
async function sendAsAlice(gw: RelayingGateway, to: string[], subject: string, headers: Record<string, string> = {}): Promise<string> {
  const t = nodemailer.createTransport({
    host: '127.0.0.1', port: gw.port, secure: false, requireTLS: true, name: 'laptop.home.test',
    tls: { rejectUnauthorized: false }, auth: { user: 'alice', pass: 'right-password' },
  });
  try {
    const info = await t.sendMail({ envelope: { from: 'alice@example.com', to }, raw: testMessage({ from: 'alice@example.com', to: to.join(', '), subject, headers }) });
    return /queued as (\S+)/.exec(info.response)![1];
  } finally {
    t.close();
  }
}

/** A message from a client without a login, at `addr` (XCLIENT from the trusted loopback). Returns its queue id. */
async function sendFrom(gw: RelayingGateway, addr: string, to: string[], subject: string): Promise<string> {
  const d = await SmtpDialog.connect(gw.port);
  try {
    assert.equal((await d.hello({ xclient: { addr } })).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    for (const rcpt of to) assert.equal((await d.cmd(`RCPT TO:<${rcpt}>`)).code, 250, rcpt);
    const r = await d.data(testMessage({ to: to.join(', '), subject }));
    assert.equal(r.code, 250, r.text);
    return /queued as (\S+)/.exec(r.text)![1];
  } finally {
    await d.quit();
  }
}

function summaryOf(gw: RelayingGateway, qid: string) {
  const line = gw.logs.find((l) => l.msg === 'message' && l.qid === qid);
  assert.ok(line, `summary line of ${qid}`);
  return line;
}

describe('verdict headers on outbound mail (headers.outbound_without_verdict)', function () {
  this.timeout(30_000);

  describe('by default: [authenticated]', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await startWithUser(); });
    after(() => gw.stop());

    it('relays a user\'s mail to an outside recipient without any X-Mailmoat-* field, forged ones included', async () => {
      const qid = await sendAsAlice(gw, ['bob@elsewhere.test'], 'out-only', { 'X-Mailmoat-Spam': 'No' });
      const raw = await gw.sink.waitForText('Subject: out-only');
      assert.deepEqual(own(raw), [], raw);
      // The plugin's field outside our namespace, and the Received field, are kept.
      assert.match(raw, /^Received: from laptop\.home\.test \(unknown \[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example \(Mailmoat\) with ESMTPSA id /);
      assert.match(raw, /^X-Probe-Other: a plugin's own\r$/m);
      const summary = summaryOf(gw, qid);
      assert.equal(summary.verdict_headers, 'omitted');
      // The verdict is still decided and logged: only the fields are left off.
      assert.deepEqual(summary.symbols, ['PROBE_SEEN(1.5)']);
    });

    it('keeps every field on a user\'s mail to the local domains only', async () => {
      const qid = await sendAsAlice(gw, ['carol@example.com'], 'local-only');
      const raw = await gw.sink.waitForText('Subject: local-only');
      assert.deepEqual(own(raw), OWN);
      assert.match(raw, /^X-Mailmoat-Verdict: accept; score=1\.5; required=15; level=None; symbols=PROBE_SEEN\(1\.5\)\r$/m);
      assert.equal(summaryOf(gw, qid).verdict_headers, undefined);
    });

    it('leaves them off for every recipient of a message to a local and an outside one, queued once', async () => {
      await sendAsAlice(gw, ['carol@example.com', 'bob@elsewhere.test'], 'mixed');
      const raw = await gw.sink.waitForText('Subject: mixed');
      assert.deepEqual(own(raw), []);
      const copies = gw.sink.messages.filter((m) => m.raw.toString('latin1').includes('Subject: mixed'));
      assert.deepEqual(copies.map((m) => [...m.rcptTo].sort()), [['bob@elsewhere.test', 'carol@example.com']]);
    });

    it('tags inbound mail exactly as before', async () => {
      await sendFrom(gw, '203.0.113.9', ['carol@example.com'], 'inbound');
      const raw = await gw.sink.waitForText('Subject: inbound');
      assert.deepEqual(fieldNames(raw).slice(0, 7), ['Received', ...OWN, 'X-Probe-Other']);
      assert.match(raw, /^Received: from client\.test \(unknown \[203\.0\.113\.9\]\)\r\n\tby mx\.test\.example \(Mailmoat\) with ESMTP id /);
    });

    it('keeps them on relay.networks mail to the outside, which the default does not name', async () => {
      await sendFrom(gw, '192.0.2.7', ['bob@elsewhere.test'], 'relay-net-default');
      assert.deepEqual(own(await gw.sink.waitForText('Subject: relay-net-default')), OWN);
    });
  });

  describe('[authenticated, relay_networks]', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await startWithUser(['authenticated', 'relay_networks']); });
    after(() => gw.stop());

    it('leaves them off relay.networks mail to the outside, and keeps them on its mail to local domains', async () => {
      const qid = await sendFrom(gw, '192.0.2.7', ['bob@elsewhere.test'], 'relay-net-out');
      assert.deepEqual(own(await gw.sink.waitForText('Subject: relay-net-out')), []);
      assert.equal(summaryOf(gw, qid).verdict_headers, 'omitted');
      await sendFrom(gw, '192.0.2.7', ['carol@example.com'], 'relay-net-in');
      assert.deepEqual(own(await gw.sink.waitForText('Subject: relay-net-in')), OWN);
    });
  });

  describe('[] (always add them)', () => {
    let gw: RelayingGateway;
    before(async () => { gw = await startWithUser([]); });
    after(() => gw.stop());

    it('relays a user\'s mail to the outside with every field, as before the option', async () => {
      await sendAsAlice(gw, ['bob@elsewhere.test'], 'always');
      assert.deepEqual(own(await gw.sink.waitForText('Subject: always')), OWN);
    });
  });
});
