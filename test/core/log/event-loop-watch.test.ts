// A plugin whose hook spins holds every client of the gateway; the watch says so once, naming the plugin and hook,
// and counts it, where the log used to say only `plugin timed out`. This file is also the plugin: the gateway imports
// it by its own URL. The spins are short (1.3 s): just over the watch's threshold, on a machine other tests share.
import assert from 'node:assert/strict';
import { definePlugin, s, type HookContext } from '../../../core/index.ts';
import { BLOCKED_TURN_MS } from '../../../core/log/event-loop-watch.ts';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { sendMail } from '../queue/send.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const SPIN_MS = BLOCKED_TURN_MS + 300;

/** Holds the event loop, as a synchronous busy loop in a plugin would. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy */ }
}

export default definePlugin({
  name: 'spinning-fixture',
  description: 'Test double: spins in its data hook when the Subject says so',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async data(ctx: HookContext) {
        if (ctx.message!.headers.first('Subject') === 'spin') spin(SPIN_MS);
      },
    },
  }),
});

describe('the event-loop watch', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'spinning-fixture', module: import.meta.filename }] } });
  });
  after(() => gw.stop());

  const blockedLines = () => gw.logs.filter((l) => l.msg === 'event loop blocked: no client was served meanwhile');
  const blockedCount = () => gw.gateway.runtime.metrics.counters.get('event_loop_blocked') ?? 0;

  const send = async (subject: string) => (await sendMail(gw.port, { from: 'someone@client.example', to: ['ann@example.com'], subject })).code;

  it('warns once for a hook that held the loop, naming the plugin and the hook, and counts it', async () => {
    const lines = blockedLines().length;
    const count = blockedCount();
    assert.equal(await send('spin'), 250);
    const line = await waitFor('the blocked turn logged', () => blockedLines()[lines]);
    assert.equal(line.level, 'warn');
    assert.equal(line.plugin, 'spinning-fixture');
    assert.equal(line.hook, 'data');
    assert.ok(Number(line.blocked_ms) >= BLOCKED_TURN_MS, `blocked_ms ${line.blocked_ms}`);
    assert.equal(blockedCount(), count + 1);
    // Served again: the next message is relayed, and the turn was said once.
    assert.equal(await send('after the spin'), 250);
    await gw.sink.waitForText('Subject: after the spin');
    assert.equal(blockedLines().length, lines + 1);
  });

  it('names no plugin for a turn no hook held', async () => {
    const lines = blockedLines().length;
    spin(SPIN_MS);
    const line = await waitFor('the blocked turn logged', () => blockedLines()[lines]);
    assert.equal(line.plugin, undefined);
    assert.equal(line.hook, undefined);
  });
});
