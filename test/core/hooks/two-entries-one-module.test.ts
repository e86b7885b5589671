// End to end: two entries of one plugin module are two plugins. Each has its own connection and transaction state,
// its findings carry its entry's name (and so its own scores.max_per_plugin cap), its log lines, counters, timeouts
// and error counts go by that name, and ctx.pluginName tells the plugin which entry it runs as. This file is also the
// plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** Holds a data hook whose Subject is `hang <entry>` until the test lets it go (past the entry's timeout). */
let letGo: () => void = () => undefined;
let held = new Promise<void>((resolve) => { letGo = resolve; });

export default definePlugin({
  name: 'probe',
  description: 'Test double: counts its MAIL FROMs per connection and scores each message once',
  configSchema: s.object({}),
  create: (_cfg, setup) => ({
    hooks: {
      async mailFrom(ctx: HookContext) {
        const mails = ((ctx.connectionState.mails as number | undefined) ?? 0) + 1;
        ctx.connectionState.mails = mails;
        ctx.state.mail = mails;
      },
      async data(ctx: HookContext) {
        if (ctx.message!.headers.first('Subject') === `hang ${ctx.pluginName}`) await held;
        ctx.log.info('probe scored', { entry: ctx.pluginName, mails: ctx.connectionState.mails, this_mail: ctx.state.mail });
        setup.metrics?.inc('scored');
        ctx.addFinding('PROBE_HIT', 2, `by ${ctx.pluginName}`);
      },
    },
  }),
});

/** Two messages on one connection, through the gateway to its smarthost. */
async function twoMessagesOnOneConnection(gw: RelayingGateway): Promise<string[]> {
  const d = await SmtpDialog.connect(gw.port);
  assert.equal((await d.hello()).code, 250);
  for (const n of [1, 2]) {
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await d.data(testMessage({ subject: `apart ${n}` }))).code, 250);
  }
  await d.quit();
  return (await gw.sink.waitFor(2)).map((m) => m.raw.toString());
}

/** What each entry logged of its MAIL FROMs: [plugin field, ctx.pluginName, on the connection, in the transaction]. */
const scoredLines = (gw: RelayingGateway) => gw.logs.filter((l) => l.msg === 'probe scored').map((l) => [l.plugin, l.entry, l.mails, l.this_mail]);

describe('two entries of one plugin module are two plugins', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: {
        plugins: [
          { name: 'probe', module: import.meta.filename },
          { name: 'probe-two', module: import.meta.filename, timeout: '1s' },
        ],
        scores: { max_per_plugin: { probe: 0.5 } },
      },
    });
  });
  after(async () => {
    letGo();
    await gw?.stop();
  });

  it('keeps each entry\'s connection state, findings and cap apart over two messages on one connection', async () => {
    for (const raw of await twoMessagesOnOneConnection(gw)) {
      // probe's 2 capped to 0.5, probe-two's 2 in full: the cap named one entry and applied to it alone.
      assert.match(raw, /^X-Mailmoat-Verdict: accept; score=2\.5; .*symbols=PROBE_HIT\(2\) PROBE_HIT\(2\); capped=probe\(2->0\.5\)\r$/m);
    }
    // Each entry counted its own MAIL FROMs: a shared connectionState would have made them 2 and 4.
    assert.deepEqual(scoredLines(gw), [['probe', 'probe', 1, 1], ['probe-two', 'probe-two', 1, 1], ['probe', 'probe', 2, 2], ['probe-two', 'probe-two', 2, 2]]);
    const summaries = gw.logs.filter((l) => l.msg === 'message');
    assert.deepEqual(summaries.map((l) => l.details), [['PROBE_HIT: by probe', 'PROBE_HIT: by probe-two'], ['PROBE_HIT: by probe', 'PROBE_HIT: by probe-two']]);
    const counters = gw.gateway.runtime.metrics.snapshot().plugins as Record<string, number>;
    assert.equal(counters.probe_scored, 2);
    assert.equal(counters.probe_two_scored, 2);
  });

  it('names the entry that timed out, in the log and the error counter', async () => {
    const d = await SmtpDialog.connect(gw.port);
    assert.equal((await d.hello()).code, 250);
    assert.equal((await d.cmd('MAIL FROM:<sender@client.example>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
    const r = await d.data(testMessage({ subject: 'hang probe-two' }));
    assert.equal(r.code, 451, r.text);
    await d.quit();
    const timedOut = gw.logs.filter((l) => l.msg === 'plugin timed out');
    assert.deepEqual(timedOut.map((l) => [l.plugin, l.hook, l.timeout_ms]), [['probe-two', 'data', 1000]]);
    assert.match(gw.gateway.runtime.metrics.prometheus(), /^mailmoat_plugin_errors_total\{plugin="probe-two",hook="data",kind="timeout"\} 1$/m);
    // Let the held handler end: its finding comes too late and is dropped, said under its own entry's name.
    letGo();
    held = Promise.resolve();
    const late = await waitFor('the late finding dropped', () => gw.logs.find((l) => l.msg === 'change after the plugin timed out ignored'));
    assert.equal(late.plugin, 'probe-two');
  });
});

describe('a second entry of one name goes by that name with #2', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({
      config: {
        plugins: [{ name: 'probe', module: import.meta.filename }, { name: 'probe', module: import.meta.filename }],
        scores: { max_per_plugin: { 'probe#2': 0.5 } },
      },
    });
  });
  after(() => gw?.stop());

  it('keeps its state, findings, cap and counters apart from the first\'s, and says so at start', async () => {
    const warned = gw.logs.filter((l) => String(l.msg).startsWith('plugin entries share a name'));
    assert.equal(warned.length, 1);
    assert.match(String(warned[0].detail), /^plugins\[1\]\.name: "probe" is plugins\[0\]'s name too: .* go by "probe#2"/);
    for (const raw of await twoMessagesOnOneConnection(gw)) {
      assert.match(raw, /^X-Mailmoat-Verdict: accept; score=2\.5; .*symbols=PROBE_HIT\(2\) PROBE_HIT\(2\); capped=probe#2\(2->0\.5\)\r$/m);
    }
    assert.deepEqual(scoredLines(gw), [['probe', 'probe', 1, 1], ['probe#2', 'probe#2', 1, 1], ['probe', 'probe', 2, 2], ['probe#2', 'probe#2', 2, 2]]);
    const counters = gw.gateway.runtime.metrics.snapshot().plugins as Record<string, number>;
    assert.equal(counters.probe_scored, 2);
    assert.equal(counters.probe_2_scored, 2);
  });
});
