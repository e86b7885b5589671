// The client's verified name a plugin gives (ctx.setVerifiedClientName) in the Received field, the summary line and the
// session, through a real gateway and a real smarthost: lower-case A-labels, `unknown` when none was verified, and a
// name that is no host name, or one given too late, ignored with a warning.
// This file is also the plugin that names the client: the gateway imports it by its own URL.
import assert from 'node:assert/strict';
import { definePlugin, s } from '../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../helpers/gateway.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { relayOne } from './received-transaction.ts';

/**
 * Takes the client at its word, as no real plugin may: the EHLO argument as sent is its verified name, and a recipient
 * `late@…` makes it try to name one at RCPT. Each message gets the name its plugins saw, at EHLO and at DATA.
 */
export default definePlugin({
  name: 'client-namer',
  description: 'Test double: names the client after its EHLO argument',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      helo: (ctx) => {
        ctx.connectionState.atHelo = ctx.session.remote.verifiedName ?? 'none';
        ctx.connectionState.taken = ctx.setVerifiedClientName(ctx.command!.args);
      },
      rcptTo: (ctx) => {
        if (ctx.rcpt!.local === 'late') ctx.setVerifiedClientName('late.example.test');
      },
      data: (ctx) => {
        ctx.addHeader('X-Test-Seen', `helo=${String(ctx.connectionState.atHelo)} taken=${String(ctx.connectionState.taken)} data=${ctx.session.remote.verifiedName ?? 'none'}`);
      },
    },
  }),
});

/** One message from a client that says `EHLO <helo>`; its relayed text and its summary line. */
async function deliver(gw: RelayingGateway, helo: string, subject: string, rcpt?: string) {
  const d = await SmtpDialog.connect(gw.port);
  try {
    assert.equal((await d.hello({ helo })).code, 250);
    return await relayOne(gw, d, subject, rcpt);
  } finally {
    await d.quit();
  }
}

describe('Received: the client\'s verified name', function () {
  this.timeout(20_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'client-namer', module: import.meta.filename }] } });
  });
  after(async () => { await gw?.stop(); });

  it('names the client by the name a plugin verified, lower-cased, in A-labels, without the root\'s dot', async () => {
    const { raw, summary } = await deliver(gw, 'Mail.Bücher.Example.', 'named-idn');
    assert.match(raw, /^Received: from \S+ \(mail\.xn--bcher-kva\.example \[127\.0\.0\.1\]\)\r\n\tby mx\.test\.example /m);
    assert.equal(summary.client_name, 'mail.xn--bcher-kva.example');
    assert.match(raw, /^X-Test-Seen: helo=none taken=true data=mail\.xn--bcher-kva\.example\r$/m);
  });

  it('keeps the name through a second EHLO of the same client', async () => {
    const d = await SmtpDialog.connect(gw.port);
    let raw: string;
    try {
      assert.equal((await d.hello({ helo: 'first.example.net' })).code, 250);
      // The plugin names the client again at each EHLO; before it does, the name of the first is still there.
      assert.equal((await d.cmd('EHLO second.example.net')).code, 250);
      ({ raw } = await relayOne(gw, d, 'second-ehlo'));
    } finally {
      await d.quit();
    }
    assert.match(raw, /^X-Test-Seen: helo=first\.example\.net taken=true data=second\.example\.net\r$/m);
    assert.match(raw, /^Received: from second\.example\.net \(second\.example\.net \[127\.0\.0\.1\]\)/m);
  });

  for (const [given, why] of [['192.0.2.1', 'an address'], ['bad_name!', 'no host name']] as const) {
    it(`writes unknown, and warns, for a name that is ${why} (${given})`, async () => {
      const { raw, summary } = await deliver(gw, given, `refused-${why.replace(/ /g, '-')}`);
      assert.match(raw, /^Received: from \S+ \(unknown \[127\.0\.0\.1\]\)/m);
      assert.equal(summary.client_name, undefined);
      assert.match(raw, /^X-Test-Seen: helo=none taken=false data=none\r$/m);
      assert.ok(gw.logs.some((l) => l.msg === 'setVerifiedClientName ignored: not a host name' && l.plugin === 'client-namer' && l.client_name === given));
    });
  }

  it('ignores a name given at RCPT, with a warning: the hooks before the transaction\'s checks name the client', async () => {
    const { raw } = await deliver(gw, '[127.0.0.1]', 'named-late', 'late@example.com');
    assert.match(raw, /^Received: from \[127\.0\.0\.1\] \(unknown \[127\.0\.0\.1\]\)/m);
    assert.ok(gw.logs.some((l) => l.msg === 'setVerifiedClientName ignored: only in connect, helo and mailFrom' && l.hook === 'rcptTo' && l.client_name === 'late.example.test'));
  });
});

describe('Received: a gateway whose plugins name no client', function () {
  this.timeout(20_000);
  let gw: RelayingGateway;
  before(async () => { gw = await startRelayingGateway(); });
  after(async () => { await gw?.stop(); });

  it('writes unknown and logs no client_name', async () => {
    const { raw, summary } = await deliver(gw, 'plain.example.net', 'no-namer');
    assert.match(raw, /^Received: from plain\.example\.net \(unknown \[127\.0\.0\.1\]\)/m);
    assert.ok(!('client_name' in summary), JSON.stringify(summary));
  });
});
