// A Haraka plugin that never calls next(), in a real gateway: the client gets Haraka's own answer (DENYSOFT `plugin
// timeout`, 450 after the message) and the log names the plugin and the hook, whether the plugin has a timeout of its
// own equal to the entry's (which used to tie, and the core's 451 came first) or none at all (timeout 0).
import assert from 'node:assert/strict';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { useFolderGateway } from './folder-gateway.ts';
import { message } from './setup.ts';

/** Accepts every recipient, then hangs on data_post (silent) or on DATA (mute), as a spamd that never answers would. */
const HANGS = `
exports.hook_rcpt = function (next) { next(OK) }
exports.hook_data_post = function (next, connection) { connection.notes.hung = true }
`;
const MUTE = `
exports.hook_data = function (next, connection) { connection.notes.hung = true }
`;

async function dialog(port: number): Promise<{ d: SmtpDialog }> {
  const d = await SmtpDialog.connect(port);
  await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
  assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
  assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
  return { d };
}

describe('haraka shim: a plugin that never answers gets Haraka\'s answer, named in the log', function () {
  this.timeout(30_000);

  describe('its own timeout equal to the entry\'s (data_post)', () => {
    const bed = useFolderGateway('haraka-hung', {
      config: { plugins: 'silent\n', 'silent.timeout': '1\n', 'log.ini': '[main]\nlevel=WARN\n' },
      plugins: { silent: HANGS },
      entry: { timeout: '1s' },
    });

    it('answers 450 plugin timeout after the message, and logs the plugin and hook', async () => {
      const { d } = await dialog(bed.gw.port);
      const r = await d.data(message());
      await d.quit();
      assert.equal(r.code, 450, r.text);
      assert.match(r.text, /plugin timeout/);
      const line = bed.gw.logs.find((l) => /^Plugin silent timed out on hook data_post/.test(String(l.msg)));
      assert.ok(line, 'the plugin\'s own timeout line');
      assert.equal(line.haraka_plugin, 'silent');
      assert.equal(line.haraka_hook, 'data_post');
      assert.equal(line.timeout_ms, 1000);
      assert.ok(!bed.gw.logs.some((l) => l.msg === 'plugin timed out'), 'the core did not cut the entry off');
      assert.equal(bed.gw.sink.messages.length, 0, 'nothing relayed');
    });
  });

  describe('a timeout of 0 (none in Haraka) on DATA', () => {
    const bed = useFolderGateway('haraka-mute', {
      config: { plugins: 'mute\nrcpt_to.in_host_list\n', host_list: 'example.test\n', 'mute.timeout': '0\n', 'log.ini': '[main]\nlevel=WARN\n' },
      plugins: { mute: MUTE },
      entry: { timeout: '1s' },
    });

    it('gets the entry\'s timeout as its limit: 451 from Haraka\'s data defaults, the plugin named', async () => {
      const { d } = await dialog(bed.gw.port);
      const r = await d.cmd('DATA');
      await d.quit();
      assert.equal(r.code, 451, r.text);
      assert.match(r.text, /plugin timeout/);
      const line = bed.gw.logs.find((l) => /^Plugin mute timed out on hook data\b/.test(String(l.msg)));
      assert.ok(line, 'the plugin\'s timeout line');
      assert.equal(line.haraka_plugin, 'mute');
      assert.equal(line.haraka_hook, 'data');
      assert.ok(!bed.gw.logs.some((l) => l.msg === 'plugin timed out'), 'the core did not cut the entry off');
    });
  });
});
