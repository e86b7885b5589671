// A message refused or deferred by a plugin's outcome in the data hook, not by the score: the afterVerdict observers
// run for it as for one refused by score, and hear the plugin's action (a 451 stays a deferral even when the score
// alone would refuse). This file is also the plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { definePlugin, outcome, s, type HookContext, type Verdict } from '../../../core/index.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';

/** What the observer heard, by the message's Subject. */
const heard = new Map<string, Verdict>();

/** `X-Score` scores the message; `X-Then: reject|tempfail` ends the data hook so. */
export default definePlugin({
  name: 'refusal-fixture',
  description: 'Test double: refuses or defers a message as its X-Then header says, and records the verdict observers hear',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async data(ctx: HookContext) {
        const h = ctx.message!.headers;
        const score = Number(h.first('X-Score') ?? 0);
        if (score) ctx.addFinding('TEST_SCORE', score, 'from the test');
        switch (h.first('X-Then')?.trim()) {
          case 'reject': return outcome.reject('Refused by the test');
          case 'tempfail': return outcome.tempfail('Deferred by the test');
        }
      },
      async afterVerdict(ctx: HookContext) {
        heard.set(ctx.message?.headers.first('Subject') ?? '', ctx.verdict!);
      },
    },
  }),
});

async function send(port: number, subject: string, headers: Record<string, string>): Promise<number> {
  const c = await SmtpDialog.connect(port);
  try {
    await c.hello();
    assert.equal((await c.cmd('MAIL FROM:<someone@client.example>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<bob@example.com>')).code, 250);
    return (await c.data(testMessage({ to: 'bob@example.com', subject, headers }))).code;
  } finally {
    await c.quit();
  }
}

async function heardOf(subject: string): Promise<Verdict> {
  const end = Date.now() + 10_000;
  while (!heard.has(subject)) {
    if (Date.now() > end) throw new Error(`no observer heard of ${subject}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return heard.get(subject)!;
}

describe('afterVerdict observers of a message a plugin refused or deferred', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { scores: { reject: 15 }, plugins: [{ name: 'refusal-fixture', module: import.meta.filename }] } });
  });
  after(async () => { await gw?.stop(); });

  it('a plugin\'s reject: 550, and the observers hear a reject forced by that plugin, with the findings\' score', async () => {
    assert.equal(await send(gw.port, 'refused by plugin', { 'X-Then': 'reject', 'X-Score': '3' }), 550);
    const v = await heardOf('refused by plugin');
    assert.deepEqual([v.action, v.forced, v.reason, v.score, v.findings.map((f) => f.symbol)], ['reject', true, 'refusal-fixture: Refused by the test', 3, ['TEST_SCORE']]);
    const line = gw.logs.find((l) => l.msg === 'message' && l.verdict === 'reject')!;
    assert.equal(line.plugin, 'refusal-fixture');
  });

  it('a plugin\'s 451 on a message whose score alone would refuse it: the observers hear the deferral the client got', async () => {
    assert.equal(await send(gw.port, 'deferred by plugin', { 'X-Then': 'tempfail', 'X-Score': '20' }), 451);
    const v = await heardOf('deferred by plugin');
    assert.deepEqual([v.action, v.forced, v.reason, v.score], ['tempfail', true, 'refusal-fixture: Deferred by the test', 20]);
  });
});
