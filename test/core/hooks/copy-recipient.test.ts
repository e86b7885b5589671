// End to end: a data plugin copies a message to more recipients (PMG's BCC); the smarthost gets the copies with the
// message, a refused copy tells the sender nothing, and a message that is not delivered is not copied either. This
// file is also the plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, outcome, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

/** `X-Copy-To: a, b` asks for copies; `X-Then` ends the message a way other than delivery; `X-Score` scores it. */
export default definePlugin({
  name: 'copy-fixture',
  description: 'Test double: copies a message to the addresses its X-Copy-To header names, and misuses addRecipient when asked',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async rcptTo(ctx: HookContext) {
        if (ctx.mailFrom?.local === 'misuse') ctx.addRecipient('archive@archive.example', 'wrong hook');
      },
      async data(ctx: HookContext) {
        const h = ctx.message!.headers;
        for (const a of (h.first('X-Copy-To') ?? '').split(',').map((x) => x.trim()).filter(Boolean)) ctx.addRecipient(a, 'archive rule');
        ctx.removeHeader('X-Copy-To');
        const score = Number(h.first('X-Score') ?? 0);
        if (score) ctx.addFinding('TEST_SCORE', score, 'from the test');
        switch (h.first('X-Then')?.trim()) {
          case 'reject': return outcome.reject('Refused by the test');
          case 'tempfail': return outcome.tempfail('Deferred by the test');
          case 'quarantine': return outcome.quarantine('Held by the test');
          case 'discard': for (const r of ctx.recipients) ctx.discardRecipient(r.address, 'test trap');
        }
      },
      async afterVerdict(ctx: HookContext) {
        if (ctx.mailFrom?.local === 'misuse') ctx.addRecipient('late@archive.example', 'wrong hook');
      },
    },
  }),
});

async function send(port: number, to: string[], headers: Record<string, string>, opts: { from?: string; subject?: string } = {}): Promise<{ code: number; text: string; qid?: string }> {
  const c = await SmtpDialog.connect(port);
  await c.hello();
  assert.equal((await c.cmd(`MAIL FROM:<${opts.from ?? 'someone@client.example'}>`)).code, 250);
  for (const t of to) assert.equal((await c.cmd(`RCPT TO:<${t}>`)).code, 250);
  const data = await c.data(testMessage({ to: to[0], subject: opts.subject, headers }));
  await c.quit();
  return { ...data, qid: /queued as (\S+)/.exec(data.text)?.[1] };
}

describe('HookContext.addRecipient', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: {
        limits: { max_recipients: 3 },
        access: { blocked_recipients: ['@blocked.example'] },
        plugins: [{ name: 'copy-fixture', module: import.meta.filename }],
      },
    });
  });
  after(() => gw.stop());
  beforeEach(() => { gw.sink.messages.length = 0; gw.sink.rcptReplies.clear(); });

  const summaryOf = (qid?: string) => gw.logs.find((l) => l.msg === 'message' && l.qid === qid)!;

  it('delivers the message to the copy with its own recipients, logs it, and keeps it out of the headers', async () => {
    const sent = await send(gw.port, ['ann@example.com'], { 'X-Copy-To': 'archive@archive.example' }, { subject: 'copy-1' });
    assert.equal(sent.code, 250, sent.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com', 'archive@archive.example'], 'a copy outside the local domains goes too');
    assert.doesNotMatch(m.raw.toString(), /archive@archive\.example/, 'a hidden recipient is not named in the message');
    const line = gw.logs.find((l) => l.msg === 'recipient copied' && l.qid === sent.qid)!;
    assert.ok(line, 'the copy is logged');
    assert.deepEqual([line.to, line.plugin, line.reason], [['archive@archive.example'], 'copy-fixture', 'archive rule']);
    const summary = summaryOf(sent.qid);
    assert.deepEqual(summary.to, ['ann@example.com'], 'the recipients the client named');
    assert.deepEqual(summary.copied_to, ['archive@archive.example']);
    assert.equal(gw.gateway.runtime.metrics.counters.get('recipients_copied'), 1);
  });

  it('adds a copy once, however its case, and not at all when the client named it', async () => {
    const sent = await send(gw.port, ['ann@example.com'], { 'X-Copy-To': 'Arch@archive.example, ANN@example.com, ARCH@Archive.example' });
    assert.equal(sent.code, 250, sent.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com', 'Arch@archive.example']);
    assert.deepEqual(summaryOf(sent.qid).copied_to, ['Arch@archive.example']);
  });

  it('holds limits.max_recipients: a copy over it is refused with a warning, and the message is still delivered', async () => {
    const sent = await send(gw.port, ['ann@example.com', 'bob@example.com'], { 'X-Copy-To': 'c1@archive.example, c2@archive.example' });
    assert.equal(sent.code, 250, sent.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com', 'bob@example.com', 'c1@archive.example']);
    const warn = gw.logs.find((l) => l.qid === sent.qid && l.msg === 'addRecipient refused: limits.max_recipients reached');
    assert.deepEqual(warn?.to, ['c2@archive.example']);
    assert.equal(warn?.level, 'warn');
  });

  it('refuses, with a warning, an address a client could not give at RCPT or one access.blocked_recipients blocks', async () => {
    const sent = await send(gw.port, ['ann@example.com'], { 'X-Copy-To': 'a..b@archive.example, x%y@archive.example, no-domain, bad@blocked.example' });
    assert.equal(sent.code, 250, sent.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com']);
    const warned = gw.logs.filter((l) => l.qid === sent.qid && l.level === 'warn' && String(l.msg).startsWith('addRecipient refused'));
    assert.deepEqual(warned.map((l) => l.to), [['a..b@archive.example'], ['x%y@archive.example'], ['no-domain'], ['bad@blocked.example']]);
    assert.equal(summaryOf(sent.qid).copied_to, undefined);
  });

  it('a copy the smarthost refuses with 550 sends no notice to the sender: logged and dead-lettered for that copy only', async () => {
    gw.sink.rcptReplies.set('gone@archive.example', 550);
    const sent = await send(gw.port, ['ann@example.com'], { 'X-Copy-To': 'gone@archive.example' }, { subject: 'copy-refused' });
    assert.equal(sent.code, 250, sent.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com']);
    await waitUntil('the message dead-lettered', () => gw.logs.some((l) => l.qid === sent.qid && l.msg === 'permanent failure: moved to dead-letter'));
    const dead = gw.logs.find((l) => l.qid === sent.qid && l.msg === 'permanent failure: moved to dead-letter')!;
    assert.match(String((dead.failed as string[])[0]), /^gone@archive\.example: 550/);
    assert.ok(!gw.logs.some((l) => l.qid === sent.qid && /notice queued/.test(String(l.msg))), 'no failure notice');
    // Any notice would have been relayed at once; one more message proves the queue moved past it.
    await send(gw.port, ['ann@example.com'], {}, { subject: 'after-refused' });
    await gw.sink.waitForText('after-refused');
    assert.ok(!gw.sink.messages.some((x) => x.mailFrom === ''), 'nothing from <> reached the smarthost');
    const entry = JSON.parse(readFileSync(path.join(gw.dataDir, 'deadletter', `${sent.qid}.json`), 'utf8'));
    const copy = entry.recipients.find((r: { address: string }) => r.address === 'gone@archive.example');
    assert.deepEqual(copy.notify, ['NEVER']);
    assert.equal(entry.recipients.find((r: { address: string }) => r.address === 'ann@example.com').status, 'delivered');
  });

  for (const then of ['reject', 'tempfail']) {
    it(`does not copy a message a plugin ends with ${then}`, async () => {
      const from = gw.logs.length;
      const sent = await send(gw.port, ['ann@example.com'], { 'X-Copy-To': 'archive@archive.example', 'X-Then': then });
      assert.equal(Math.floor(sent.code / 100), then === 'reject' ? 5 : 4);
      const line = gw.logs.slice(from).find((l) => l.msg === 'message')!;
      assert.equal(line.plugin, 'copy-fixture');
      assert.deepEqual(line.copies_dropped, ['archive@archive.example']);
      assert.equal(line.copied_to, undefined);
      assert.ok(!gw.logs.slice(from).some((l) => l.msg === 'recipient copied'));
    });
  }

  it('does not copy a message the verdict rejects, nor one discarded for every recipient', async () => {
    const from = gw.logs.length;
    const rejected = await send(gw.port, ['ann@example.com'], { 'X-Copy-To': 'archive@archive.example', 'X-Score': '20' });
    assert.equal(rejected.code, 550);
    const line = gw.logs.slice(from).find((l) => l.msg === 'message')!;
    assert.equal(line.verdict, 'reject');
    assert.deepEqual(line.copies_dropped, ['archive@archive.example']);
    const trapped = await send(gw.port, ['trap@example.com'], { 'X-Copy-To': 'archive@archive.example', 'X-Then': 'discard' });
    assert.equal(trapped.code, 250);
    assert.deepEqual(summaryOf(trapped.qid).copies_dropped, ['archive@archive.example']);
    await send(gw.port, ['ann@example.com'], {}, { subject: 'after-dropped' });
    await gw.sink.waitForText('after-dropped');
    assert.ok(!gw.sink.messages.some((m) => m.rcptTo.includes('archive@archive.example')));
  });

  it('does not copy a quarantined message, nor store the copy for a release', async () => {
    const sent = await send(gw.port, ['ann@example.com'], { 'X-Copy-To': 'archive@archive.example', 'X-Then': 'quarantine' });
    assert.equal(sent.code, 250, sent.text);
    assert.equal(summaryOf(sent.qid).verdict, 'quarantine');
    assert.deepEqual(summaryOf(sent.qid).copies_dropped, ['archive@archive.example']);
    const file = readdirSync(path.join(gw.dataDir, 'quarantine')).find((f) => f.startsWith(sent.qid!) && f.endsWith('.json'))!;
    const entry = JSON.parse(readFileSync(path.join(gw.dataDir, 'quarantine', file), 'utf8'));
    assert.deepEqual(entry.recipients.map((r: { address: string }) => r.address), ['ann@example.com']);
  });

  it('ignores, with a warning, a call outside the data hook', async () => {
    const sent = await send(gw.port, ['ann@example.com'], {}, { from: 'misuse@client.example' });
    assert.equal(sent.code, 250, sent.text);
    const [m] = await gw.sink.waitFor(1);
    assert.deepEqual(m.rcptTo, ['ann@example.com']);
    await waitUntil('both addRecipient calls logged as ignored', () => gw.logs.filter((l) => l.qid === sent.qid && l.msg === 'addRecipient ignored: only in the data hook').length === 2);
    const ignored = gw.logs.filter((l) => l.qid === sent.qid && l.msg === 'addRecipient ignored: only in the data hook');
    assert.deepEqual(ignored.map((l) => l.hook), ['rcptTo', 'afterVerdict']);
  });
});
