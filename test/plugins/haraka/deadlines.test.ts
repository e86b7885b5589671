// The shim's deadlines, from a reviewer's findings: what one Mailmoat hook may cost (every plugin's DENY may run the
// deny hook once more; a proxy's EHLO runs connect_init), and plugin limits so long that their sum is past what a
// Node timer can wait, which used to fire at once and answer every call with the core's 451.
import assert from 'node:assert/strict';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { hookDeadline } from '../../../plugins/haraka/hook-deadline.ts';
import { HookRegistry } from '../../../plugins/haraka/registry.ts';
import { useFolderGateway } from './folder-gateway.ts';
import { message } from './setup.ts';

/** A registry holding plain plugin objects by name, each with its Haraka timeout in seconds and its hooks. */
function registryOf(plugins: Record<string, { timeout: number; hooks: string[] }>): HookRegistry {
  const r = new HookRegistry();
  for (const [name, p] of Object.entries(plugins)) {
    const plugin: Record<string, unknown> = { name, timeout: p.timeout };
    for (const h of p.hooks) {
      plugin[`hook_${h}`] = () => undefined;
      r.add(h, name, `hook_${h}`, 0);
    }
    r.plugins.set(name, plugin);
  }
  return r;
}

describe('haraka shim: hook deadlines', function () {
  this.timeout(30_000);

  describe('what a hook may run', () => {
    it('counts a run of the deny hook after each plugin, as an overriding deny plugin lets the next one deny', () => {
      const r = registryOf({
        a: { timeout: 2, hooks: ['rcpt'] },
        b: { timeout: 3, hooks: ['rcpt'] },
        c: { timeout: 5, hooks: ['rcpt_ok'] },
        forgive: { timeout: 7, hooks: ['deny'] },
      });
      // 1 s of the entry's own, each of the three plugins and a deny run after it.
      assert.equal(hookDeadline(r, 'rcptTo', 1000), 1000 + 2000 + 3000 + 5000 + 3 * 7000);
      // A hook with no plugin of its own can refuse nothing: no deny run is counted.
      assert.equal(hookDeadline(r, 'mailFrom', 1000), 1000);
    });

    it('counts connect_init in helo, which a trusted proxy\'s EHLO before XCLIENT runs', () => {
      const r = registryOf({ init: { timeout: 4, hooks: ['connect_init'] }, hi: { timeout: 1, hooks: ['ehlo'] } });
      assert.equal(hookDeadline(r, 'helo', 500), 500 + 4000 + 1000);
      assert.equal(hookDeadline(r, 'connect', 500), 500 + 4000);
    });
  });

  describe('three plugins of 1,000,000 s each on rcpt, past what a timer can wait', () => {
    // Each answers after a moment of its own: a deadline that overflowed fired after 1 ms, well before.
    const LATE = 'exports.hook_rcpt = function (next) { setTimeout(() => next(), 20) }\n';
    const bed = useFolderGateway('haraka-long-limits', {
      config: {
        plugins: 'late1\nlate2\nlate3\nrcpt_to.in_host_list\n', host_list: 'example.test\n',
        'late1.timeout': '1000000\n', 'late2.timeout': '1000000\n', 'late3.timeout': '1000000\n',
      },
      plugins: { late1: LATE, late2: LATE, late3: LATE },
      entry: { timeout: '1s' },
    });

    it('answers the plugins\' way, not with the core\'s 451', async () => {
      const d = await SmtpDialog.connect(bed.gw.port);
      await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
      assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
      const rcpt = await d.cmd('RCPT TO:<bob@example.test>');
      assert.equal(rcpt.code, 250, rcpt.text);
      assert.equal((await d.data(message())).code, 250);
      await d.quit();
      assert.ok(!bed.gw.logs.some((l) => l.msg === 'plugin timed out'), 'the core did not cut the entry off');
    });
  });
});
