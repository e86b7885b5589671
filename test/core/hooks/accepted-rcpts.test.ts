// End to end: ctx.acceptedRcpts lists the client's own RCPTs the transaction took, whoever refused the others. This
// file is also the plugin: the gateway imports it by its own URL, the module mocha loaded, so both see `seen`.
import assert from 'node:assert/strict';
import { definePlugin, outcome, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';

/** What the plugin saw, by the Subject of the message (the test's marker). */
const seen = new Map<string, { atRcpt: string[][]; atDataStart: string[]; recipients: string[] }>();
let rcptViews: string[][] = [];

export default definePlugin({
  name: 'accepted-rcpts-fixture',
  description: 'Test double: refuses, redirects and records what ctx.acceptedRcpts holds',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async rcptTo(ctx: HookContext) {
        rcptViews.push([...(ctx.acceptedRcpts ?? [])]);
        const local = ctx.rcpt!.local;
        if (local === 'nobody') return outcome.reject('No such user', { code: 550, enhanced: '5.1.1' });
        if (local === 'later') return outcome.tempfail('Try later', { code: 451, enhanced: '4.7.1' });
        if (local === 'sales') ctx.redirectRecipient(['alice@example.com'], 'alias');
        if (local === 'team') ctx.redirectRecipient(['nobody@example.com'], 'alias');
        if (local === 'wide') ctx.redirectRecipient(['w1@example.com', 'w2@example.com', 'w3@example.com', 'w4@example.com'], 'alias');
      },
      async data(ctx: HookContext) {
        const subject = ctx.message!.headers.first('subject') ?? '';
        seen.set(subject, { atRcpt: rcptViews, atDataStart: [...(ctx.acceptedRcpts ?? [])], recipients: ctx.recipients.map((r) => r.address) });
        rcptViews = [];
      },
    },
  }),
});

async function send(port: number, to: string[], subject: string): Promise<{ rcpt: SmtpReply[]; data: SmtpReply }> {
  const c = await SmtpDialog.connect(port);
  await c.hello();
  const m = await c.cmd('MAIL FROM:<someone@client.example>');
  assert.equal(m.code, 250, m.text);
  const rcpt: SmtpReply[] = [];
  for (const t of to) rcpt.push(await c.cmd(`RCPT TO:<${t}>`));
  const data = await c.data(testMessage({ to: to[0], subject }));
  await c.quit();
  return { rcpt, data };
}

describe('HookContext.acceptedRcpts', () => {
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: { limits: { max_recipients: 4 }, plugins: [{ name: 'accepted-rcpts-fixture', module: import.meta.filename }] },
    });
  });
  after(() => gw.stop());

  it('holds the accepted RCPTs once each, as written, in order; refused ones are absent', async () => {
    const to = ['Bob@Example.com', 'nobody@example.com', 'later@example.com', 'sales@example.com', 'bob@example.com', 'SALES@example.com', 'carol@example.com'];
    const sent = await send(gw.port, to, 'mixed');
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 550, 451, 250, 250, 250, 250]);
    assert.equal(sent.data.code, 250, sent.data.text);
    const v = seen.get('mixed')!;
    assert.deepEqual(v.atDataStart, ['Bob@Example.com', 'sales@example.com', 'carol@example.com']);
    assert.deepEqual(v.recipients, ['Bob@Example.com', 'alice@example.com', 'carol@example.com'], 'the redirect shows in recipients, not here');
    // At each rcptTo the list holds the RCPTs accepted before, never the one being checked; an accepted RCPT named
    // again (bob, SALES) is not checked again.
    assert.deepEqual(v.atRcpt, [[], ['Bob@Example.com'], ['Bob@Example.com'], ['Bob@Example.com'], ['Bob@Example.com', 'sales@example.com']]);
  });

  it('leaves out a RCPT the core refused after the hooks said yes (its redirect over limits.max_recipients)', async () => {
    const sent = await send(gw.port, ['dave@example.com', 'wide@example.com', 'erin@example.com'], 'over');
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 452, 250]);
    assert.deepEqual(seen.get('over')!.atDataStart, ['dave@example.com', 'erin@example.com']);
  });

  it('names a RCPT that a redirect had already put in the transaction, as the client is told 250 for it', async () => {
    const sent = await send(gw.port, ['sales@example.com', 'alice@example.com'], 'target');
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 250]);
    assert.deepEqual(seen.get('target')!.atDataStart, ['sales@example.com', 'alice@example.com']);
    assert.deepEqual(seen.get('target')!.recipients, ['alice@example.com']);
    assert.deepEqual(seen.get('target')!.atRcpt, [[], ['sales@example.com']], 'the hooks checked alice when the client named her');
  });

  it('checks a RCPT a redirect had already added: refused, the client is told so and the redirect keeps its copy', async () => {
    const sent = await send(gw.port, ['team@example.com', 'nobody@example.com'], 'refused target');
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 550]);
    assert.equal(sent.data.code, 250, sent.data.text);
    assert.deepEqual(seen.get('refused target')!.atDataStart, ['team@example.com']);
    assert.deepEqual(seen.get('refused target')!.recipients, ['nobody@example.com']);
  });
});
