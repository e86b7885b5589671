// End to end: a rcptTo plugin sends a recipient elsewhere; the client sees its own recipient accepted, the smarthost
// gets the targets. This file is also the plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { definePlugin, outcome, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const ALIASES: Record<string, string[]> = {
  sales: ['alice@example.com', 'bob@partner.example'],
  // Targets that repeat each other and a recipient a client may already have named, in other cases.
  team: ['Alice@Example.com', 'carol@example.com', 'ALICE@example.com'],
  wide: ['w1@example.com', 'w2@example.com', 'w3@example.com'],
  broken: ['fine@example.com', 'two words@example.com'],
  hacked: ['x%y@partner.example'],
  empty: [],
  dots: ['a..b@example.com'],
  // A right-to-left override, which the front door refuses in a client's address with 501.
  hidden: ['admin\u202emoc@example.com'],
  partly: ['evil@blocked.example', 'ok@example.com'],
  wholly: ['evil@blocked.example'],
  quiet: ['alice@example.com'],
};

export default definePlugin({
  name: 'redirect-fixture',
  description: 'Test double: redirects recipients by local part, and misuses redirectRecipient when asked',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async mailFrom(ctx: HookContext) {
        if (ctx.mailFrom?.local === 'misuse') ctx.redirectRecipient(['alice@example.com'], 'wrong hook');
      },
      async rcptTo(ctx: HookContext) {
        const rcpt = ctx.rcpt!;
        const targets = ALIASES[rcpt.local];
        if (targets) ctx.redirectRecipient(targets, `${rcpt.local} alias`);
        if (rcpt.local === 'twice') {
          ctx.redirectRecipient(['first@example.com'], 'first');
          ctx.redirectRecipient(['second@example.com'], 'second');
        }
        if (rcpt.local === 'refused') {
          ctx.redirectRecipient(['alice@example.com'], 'then refused');
          return outcome.reject('No such user', { code: 550, enhanced: '5.1.1' });
        }
      },
      async data(ctx: HookContext) {
        if (ctx.mailFrom?.local === 'misuse') ctx.redirectRecipient(['alice@example.com'], 'wrong hook');
      },
    },
  }),
});

interface Sent { rcpt: SmtpReply[]; data: SmtpReply; qid?: string }

async function send(port: number, to: string[], from = 'someone@client.example'): Promise<Sent> {
  const c = await SmtpDialog.connect(port);
  await c.hello();
  const m = await c.cmd(`MAIL FROM:<${from}>`);
  assert.equal(m.code, 250, m.text);
  const rcpt: SmtpReply[] = [];
  for (const t of to) rcpt.push(await c.cmd(`RCPT TO:<${t}>`));
  const data = await c.data(testMessage({ to: to[0] }));
  await c.quit();
  return { rcpt, data, qid: /queued as (\S+)/.exec(data.text)?.[1] };
}

describe('HookContext.redirectRecipient', () => {
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: { limits: { max_recipients: 4 }, access: { blocked_recipients: ['@blocked.example'] }, plugins: [{ name: 'redirect-fixture', module: import.meta.filename }] },
    });
  });
  after(() => gw.stop());
  beforeEach(() => { gw.sink.messages.length = 0; });

  it('delivers to the targets and not to the original, and answers 250 for the original', async () => {
    const sent = await send(gw.port, ['sales@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250]);
    assert.equal(sent.data.code, 250, sent.data.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['alice@example.com', 'bob@partner.example'], 'a target outside the local domains goes too');
    const line = gw.logs.find((l) => l.msg === 'recipient redirected' && l.qid === sent.qid)!;
    assert.ok(line, 'the redirect is logged');
    assert.deepEqual(line.to, ['sales@example.com']);
    assert.deepEqual(line.targets, ['alice@example.com', 'bob@partner.example']);
    assert.equal(line.plugin, 'redirect-fixture');
    assert.equal(line.reason, 'sales alias');
    const summary = gw.logs.find((l) => l.msg === 'message' && l.qid === sent.qid)!;
    assert.deepEqual(summary.to, ['alice@example.com', 'bob@partner.example']);
  });

  it('adds each target once, however its case, and not again when the client names it itself', async () => {
    const sent = await send(gw.port, ['carol@example.com', 'team@example.com', 'alice@example.com', 'sales@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 250, 250, 250]);
    assert.equal(sent.data.code, 250, sent.data.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['carol@example.com', 'Alice@Example.com', 'bob@partner.example']);
    const team = gw.logs.find((l) => l.msg === 'recipient redirected' && l.qid === sent.qid && String(l.to) === 'team@example.com')!;
    assert.deepEqual(team.added, ['Alice@Example.com']);
  });

  it('counts the targets against limits.max_recipients: over it, that RCPT gets 452 4.5.3 and nothing of it is added', async () => {
    const sent = await send(gw.port, ['u1@example.com', 'u2@example.com', 'wide@example.com', 'u3@example.com', 'u4@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 250, 452, 250, 250]);
    assert.match(sent.rcpt[2].text, /^4\.5\.3 /);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['u1@example.com', 'u2@example.com', 'u3@example.com', 'u4@example.com']);
  });

  it('refuses, with a warning, a call with an invalid or forbidden target or none, and keeps the original', async () => {
    const sent = await send(gw.port, ['broken@example.com', 'hacked@example.com', 'empty@example.com', 'dots@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 250, 250, 250]);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['broken@example.com', 'hacked@example.com', 'empty@example.com', 'dots@example.com']);
    const hidden = await send(gw.port, ['hidden@example.com']);
    assert.deepEqual(hidden.rcpt.map((r) => r.code), [250]);
    const [, h] = await gw.sink.waitFor(2);
    assert.deepEqual(h.rcptTo, ['hidden@example.com']);
    const warnings = gw.logs.filter((l) => l.level === 'warn' && String(l.msg).startsWith('redirectRecipient refused'));
    assert.deepEqual(warnings.map((l) => [l.to, l.target ?? null]),
      [[['broken@example.com'], 'two words@example.com'], [['hacked@example.com'], 'x%y@partner.example'], [['empty@example.com'], null], [['dots@example.com'], 'a..b@example.com'], [['hidden@example.com'], 'admin\u202emoc@example.com']]);
  });

  it('keeps access.blocked_recipients for the targets: a blocked one is dropped, all blocked refuses the RCPT', async () => {
    const sent = await send(gw.port, ['partly@example.com', 'wholly@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 550]);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ok@example.com']);
    assert.ok(gw.logs.some((l) => l.msg === 'redirect target refused by access.blocked_recipients' && String(l.to) === 'partly@example.com'));
  });

  it('carries the sender\'s DSN requests to the targets, with the original as ORCPT: NOTIFY=NEVER still holds', async () => {
    gw.sink.rcptReplies.set('alice@example.com', 550);
    try {
      for (const notify of ['NEVER', undefined]) {
        const c = await SmtpDialog.connect(gw.port);
        await c.hello();
        await c.cmd('MAIL FROM:<someone@client.example>');
        assert.equal((await c.cmd(`RCPT TO:<quiet@example.com>${notify ? ` NOTIFY=${notify}` : ''}`)).code, 250);
        const data = await c.data(testMessage({ to: 'quiet@example.com' }));
        await c.quit();
        const qid = /queued as (\S+)/.exec(data.text)?.[1];
        await waitUntil('the message dead-lettered', () => gw.logs.some((l) => l.qid === qid && /moved to dead-letter/.test(String(l.msg))));
        const notice = gw.logs.find((l) => l.qid === qid && l.msg === 'failure notice queued');
        if (notify === 'NEVER') assert.equal(notice, undefined, 'NOTIFY=NEVER: no notice after the redirect either');
        else {
          assert.ok(notice, 'without NOTIFY, the sender hears of it');
          const [n] = await gw.sink.waitFor(1, 10_000).then(() => gw.sink.messages.filter((x) => x.mailFrom === '' && x.raw.toString().includes(qid!)));
          assert.match(n.raw.toString(), /Original-Recipient: rfc822;\s*quiet@example\.com/i);
        }
      }
    } finally { gw.sink.rcptReplies.delete('alice@example.com'); }
  });

  it('keeps the first redirect of a RCPT and drops the one of a recipient the chain refused', async () => {
    const sent = await send(gw.port, ['twice@example.com', 'refused@example.com']);
    assert.deepEqual(sent.rcpt.map((r) => r.code), [250, 550]);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['first@example.com']);
    assert.ok(gw.logs.some((l) => l.level === 'warn' && String(l.msg).startsWith('redirectRecipient ignored: the recipient was already redirected')));
  });

  it('judges relaying by the recipient the client named, not by its targets', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<someone@client.example>');
    const r = await c.cmd('RCPT TO:<sales@partner.example>');
    await c.quit();
    assert.equal(r.code, 554);
  });

  it('ignores, with a warning, a call outside the rcptTo hook', async () => {
    const sent = await send(gw.port, ['u1@example.com'], 'misuse@client.example');
    assert.equal(sent.data.code, 250);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['u1@example.com']);
    const ignored = gw.logs.filter((l) => l.level === 'warn' && l.qid === sent.qid && String(l.msg).startsWith('redirectRecipient ignored: only'));
    assert.deepEqual(ignored.map((l) => l.hook), ['mailFrom', 'data']);
  });
});
