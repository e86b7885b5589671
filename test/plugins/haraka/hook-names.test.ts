// What the load says about hooks that will not run as written, in a real gateway: a registered method the plugin does
// not have (an error naming plugin and method), a name that is no Haraka hook (a warning with a did-you-mean), and a
// Haraka hook Mailmoat does not run (an info line), each told apart. The plugin's good hooks still run.
import assert from 'node:assert/strict';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { useFolderGateway } from './folder-gateway.ts';
import { message } from './setup.ts';

const CARELESS = `
exports.register = function () {
  this.register_hook('data_post', 'no_such_method')
  this.register_hook('rcpt_too', 'check_rcpt')
}
exports.check_rcpt = function (next) { next() }
exports.hook_dta_post = function (next) { next(DENY) }
exports.hook_queue_outbound = function (next) { next() }
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Careless', 'ran')
  next()
}
`;

describe('haraka shim: hooks that never run as registered are named at load', function () {
  this.timeout(30_000);
  const bed = useFolderGateway('haraka-hook-names', {
    config: { plugins: 'careless\n', 'log.ini': '[main]\nlevel=WARN\n' },
    plugins: { careless: CARELESS },
  });

  it('an error for the missing method, a warning with a suggestion per misspelt hook, info for an idle Haraka hook', () => {
    const told = bed.gw.logs.filter((l) => /^haraka plugin careless/.test(String(l.msg)));
    const missing = told.find((l) => l.level === 'error');
    assert.ok(missing, 'the missing method is an error');
    assert.equal(missing.method, 'no_such_method');
    assert.equal(missing.hook, 'data_post');
    assert.match(String(missing.msg), /registered method no_such_method for hook data_post, but has no such method/);

    const unknown = told.filter((l) => l.level === 'warn');
    assert.deepEqual(unknown.map((l) => [l.hook, l.did_you_mean]), [['rcpt_too', 'rcpt_ok'], ['dta_post', 'data_post']]);
    assert.match(String(unknown[1].msg), /registered dta_post, which is no Haraka hook \(did you mean data_post\?\): neither Haraka nor Mailmoat ever runs it/);

    const idle = told.filter((l) => l.level === 'info');
    assert.deepEqual(idle.map((l) => l.hooks), [['queue_outbound']], 'misspelt names are not called idle Haraka hooks');
    assert.match(String(idle[0].msg), /Haraka would run some of its hooks, Mailmoat does not/);
  });

  it('the plugin\'s real data_post still runs, and the misspelt DENY does not', async () => {
    const d = await SmtpDialog.connect(bed.gw.port);
    await d.hello({ helo: 'mail.example.org', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    const r = await d.data(message());
    await d.quit();
    assert.equal(r.code, 250, r.text);
    await bed.gw.sink.waitFor(1);
    assert.match(bed.gw.sink.messages[0].raw.toString(), /^X-Careless: ran\r$/m);
  });
});
