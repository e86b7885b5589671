// A plain plugin's sandbox timers: a callback that is no function is refused at the call, as Node refuses it (which the
// shim's callPlugin turns into CONT), rather than thrown later from inside the timer, where it stopped the gateway;
// a timer cleared by its number leaves the pending set; a callback runs with Node's `this`, the timer.
import assert from 'node:assert/strict';
import { pluginTimers } from '../../../plugins/haraka/plugin-timers.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';
import { useFolderGateway } from './folder-gateway.ts';
import { message } from './setup.ts';

describe('haraka shim: a plain plugin\'s timers', function () {
  this.timeout(30_000);

  it('refuses a callback that is no function at once, with Node\'s TypeError', () => {
    const { globals, clearLeft } = pluginTimers();
    for (const call of [() => globals.setTimeout(undefined as never, 100), () => globals.setImmediate(undefined as never)]) {
      assert.throws(call, (e: NodeJS.ErrnoException) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG_TYPE');
    }
    assert.equal(clearLeft(), 0, 'nothing was left pending');
  });

  it('forgets a timer cleared by its number', () => {
    const { globals, clearLeft } = pluginTimers();
    const t = globals.setTimeout(() => assert.fail('a cleared timer ran'), 60_000);
    const i = globals.setInterval(() => assert.fail('a cleared interval ran'), 60_000);
    globals.clearTimeout(+t);
    globals.clearInterval(String(+i) as never);
    assert.equal(clearLeft(), 0);
  });

  it('runs a callback with the timer as `this` and the plugin\'s arguments', async () => {
    const { globals } = pluginTimers();
    let t: unknown;
    const seen = await new Promise<{ self: unknown; args: unknown[] }>((resolve) => {
      t = globals.setTimeout(function (this: unknown, ...args: unknown[]) { resolve({ self: this, args }); }, 1, 'a', 2);
    });
    assert.equal(seen.self, t);
    assert.deepEqual(seen.args, ['a', 2]);
    let im: unknown;
    const self = await new Promise<unknown>((resolve) => { im = globals.setImmediate(function (this: unknown) { resolve(this); }); });
    assert.equal(self, im);
  });

  describe('in a gateway: setTimeout(this.missing) in a hook', () => {
    const MISSING = 'exports.hook_mail = function (next) { setTimeout(this.missing, 100); next(OK) }\n';
    const bed = useFolderGateway('haraka-missing-callback', {
      config: { plugins: 'missing\nrcpt_to.in_host_list\n', host_list: 'example.test\n' },
      plugins: { missing: MISSING },
    });

    it('fails that call alone (CONT, logged) and the gateway goes on taking mail', async () => {
      for (const n of [1, 2]) {
        const d = await SmtpDialog.connect(bed.gw.port);
        await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
        assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
        assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
        const r = await d.data(message({ subject: `message ${n}` }));
        await d.quit();
        assert.equal(r.code, 250, r.text);
      }
      assert.ok(bed.gw.logs.some((l) => /^Plugin missing failed/.test(String(l.msg))), 'the plugin\'s failure is logged');
      await waitUntil('both messages relayed', () => bed.gw.sink.messages.length === 2);
    });
  });
});
