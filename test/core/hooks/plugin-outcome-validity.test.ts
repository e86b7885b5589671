// End to end: an outcome that does not fit its hook (a disconnect with a 250, a quarantine at MAIL FROM, a code that is
// no reply code, a text that is no text) is a plugin's mistake. The client gets 451 4.3.0, so it keeps the message and
// tries again; the log names the plugin, the hook and the mistake; nothing is queued or relayed; other mail goes on.
// An outcome that fits is answered as it asks, and the reply logged is the reply sent. This file is also the plugin:
// the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, outcome, s, type HookContext, type Outcome } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

/** What the plugin returns for a cue: the sender's or recipient's local part at MAIL and RCPT, the Subject at DATA. */
const RETURNS: Record<string, unknown> = {
  'disconnect-250': { action: 'disconnect', code: 250, text: 'bye' },
  'disconnect-221': { action: 'disconnect', code: 221, text: 'bye' },
  'quarantine-early': outcome.quarantine('held'),
  'reject-599': { action: 'reject', code: 599, text: 'no' },
  'code-abc': { action: 'reject', code: 'abc', text: 'no' },
  'text-number': { action: 'reject', text: 42 },
  'text-object': { action: 'reject', text: { a: 'x'.repeat(100_000) } },
  'enhanced-mismatch': { action: 'reject', code: 550, enhanced: '4.7.1', text: 'no' },
  'not-an-outcome': 'reject',
  'disconnect-plain': outcome.disconnect('bye'),
  'disconnect-permanent': outcome.disconnect('go away', { code: 554, enhanced: '5.7.1' }),
  'custom-reject': outcome.reject('no such mailbox here', { code: 553, enhanced: '5.1.3' }),
};

const cue = (address: string | undefined) => address?.slice(0, address.indexOf('@'));

export default definePlugin({
  name: 'outcome-fixture',
  description: 'Test double: returns the outcome its cue names, well formed or not',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async mailFrom(ctx: HookContext) { return RETURNS[cue(ctx.mailFrom?.address) ?? ''] as Outcome | undefined; },
      async rcptTo(ctx: HookContext) { return RETURNS[cue(ctx.rcpt?.address) ?? ''] as Outcome | undefined; },
      async data(ctx: HookContext) { return RETURNS[ctx.message!.headers.first('Subject') ?? ''] as Outcome | undefined; },
    },
  }),
});

describe('a plugin outcome that does not fit its hook is answered 451 4.3.0', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'outcome-fixture', module: import.meta.filename }] } });
  });
  after(() => gw.stop());

  interface Sent { mail: SmtpReply; rcpt?: SmtpReply; data?: SmtpReply; dialog: SmtpDialog }

  /** One transaction on a new connection; it stops at the first refusal, and leaves the connection open. */
  async function send(opts: { from?: string; to?: string; subject?: string }): Promise<Sent> {
    const dialog = await SmtpDialog.connect(gw.port);
    await dialog.hello();
    const mail = await dialog.cmd(`MAIL FROM:<${opts.from ?? 'someone'}@client.example>`);
    if (mail.code !== 250) return { mail, dialog };
    const rcpt = await dialog.cmd(`RCPT TO:<${opts.to ?? 'ann'}@example.com>`);
    if (rcpt.code !== 250) return { mail, rcpt, dialog };
    const data = await dialog.data(testMessage({ to: `${opts.to ?? 'ann'}@example.com`, subject: opts.subject ?? 'plain' }));
    return { mail, rcpt, data, dialog };
  }

  const warning = () => gw.logs.findLast((l) => l.msg === 'plugin returned an invalid outcome');
  const queued = () => readdirSync(path.join(gw.dataDir, 'queue')).filter((f) => f.endsWith('.eml'));

  const invalid: Array<[string, 'mailFrom' | 'rcptTo' | 'data', RegExp]> = [
    ['disconnect-250', 'data', /^code 250 does not fit disconnect \(4xx or 5xx\)$/],
    ['disconnect-221', 'data', /^code 221 does not fit disconnect/],
    ['quarantine-early', 'mailFrom', /^quarantine is for the data hook only, not mailFrom$/],
    ['reject-599', 'rcptTo', /^code 599 is not an SMTP reply code$/],
    ['code-abc', 'mailFrom', /^code "abc" is not an SMTP reply code$/],
    ['text-number', 'data', /^text 42 is not a string or a list of strings$/],
    ['text-object', 'data', /^text an object is not a string or a list of strings$/],
    ['enhanced-mismatch', 'rcptTo', /^enhanced 4\.7\.1 does not fit the reply code 550$/],
    ['not-an-outcome', 'mailFrom', /^not an outcome: "reject"$/],
  ];
  for (const [name, hook, problem] of invalid) {
    it(`${name} at ${hook}: 451 4.3.0, a warning naming plugin, hook and mistake, nothing queued or relayed`, async () => {
      const relayed = gw.sink.messages.length;
      const sent = await send(hook === 'mailFrom' ? { from: name } : hook === 'rcptTo' ? { to: name } : { subject: name });
      const r = hook === 'mailFrom' ? sent.mail : hook === 'rcptTo' ? sent.rcpt! : sent.data!;
      assert.equal(r.code, 451, r.text);
      assert.match(r.text, /^4\.3\.0 /);
      const line = warning();
      assert.equal(line?.level, 'warn');
      assert.equal(line?.plugin, 'outcome-fixture');
      assert.equal(line?.hook, hook);
      assert.match(String(line?.problem), problem);
      assert.ok(JSON.stringify(line).length < 600, 'the warning is short whatever the plugin returned');
      // The client was told to try again, and the connection is still its to use.
      assert.equal((await sent.dialog.cmd('RSET')).code, 250);
      await sent.dialog.quit();
      assert.deepEqual(queued(), [], 'nothing is left queued');
      assert.equal(gw.sink.messages.length, relayed, 'nothing is relayed');
    });
  }

  it('a data refusal logs the reply the client got, also for a 4xx disconnect (421) and a 5xx one', async () => {
    for (const [subject, reply] of [['disconnect-plain', '421 4.7.0 bye'], ['disconnect-permanent', '554 5.7.1 go away']]) {
      const sent = await send({ subject });
      assert.equal(`${sent.data!.code} ${sent.data!.text}`, reply);
      await waitUntil('the gateway to close the connection', () => sent.dialog.closed);
      const line = gw.logs.findLast((l) => l.msg === 'message');
      assert.equal(line?.reply, reply);
      assert.equal(line?.verdict, reply.startsWith('4') ? 'tempfail' : 'reject');
    }
  });

  it('answers an outcome that fits with its own code and enhanced code', async () => {
    const sent = await send({ to: 'custom-reject' });
    assert.equal(`${sent.rcpt!.code} ${sent.rcpt!.text}`, '553 5.1.3 no such mailbox here');
    await sent.dialog.quit();
  });

  it('goes on serving: the next client\'s message is relayed', async () => {
    const sent = await send({ subject: 'after the mistakes' });
    assert.equal(sent.data!.code, 250, sent.data!.text);
    await sent.dialog.quit();
    await gw.sink.waitForText('Subject: after the mistakes');
  });
});
