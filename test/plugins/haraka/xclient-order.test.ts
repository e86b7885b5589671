// Behind a trusted proxy, Haraka's connect_init runs before any ehlo hook, as in Haraka with its xclient plugin: the
// proxy's own EHLO before XCLIENT (which comes before the core's connect hooks) has connect_init run for the proxy
// first; XCLIENT's client then gets its own connect_init and connect before its EHLO; a proxy that goes on as the
// client is not given connect_init twice. A plugin reading in ehlo what it set in connect_init no longer throws.
import assert from 'node:assert/strict';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { useFolderGateway } from './folder-gateway.ts';
import { message } from './setup.ts';

const ORDER = `
exports.hook_connect_init = function (next, connection) { (connection.notes.order = connection.notes.order || []).push('connect_init:' + connection.remote.ip); next() }
exports.hook_connect = function (next, connection) { connection.notes.order.push('connect'); next() }
exports.hook_ehlo = function (next, connection, host) { connection.notes.order.push('ehlo:' + connection.remote.ip + ':' + host); next() }
exports.hook_mail = function (next, connection) { connection.notes.order.push('mail'); next() }
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Order', connection.notes.order.join(' '))
  next()
}
`;

async function sendThrough(port: number, client: SmtpDialog | undefined, subject: string): Promise<number> {
  const d = client ?? await SmtpDialog.connect(port);
  assert.equal((await d.cmd('MAIL FROM:<alice@example.org>')).code, 250);
  assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
  const r = await d.data(message({ subject }));
  await d.quit();
  return r.code;
}

describe('haraka shim behind XCLIENT: connect_init before any ehlo', function () {
  this.timeout(30_000);
  const bed = useFolderGateway('haraka-xclient-order', {
    config: { plugins: 'order\n', 'log.ini': '[main]\nlevel=WARN\n' },
    plugins: { order: ORDER },
  });

  it('XCLIENT: connect_init before the proxy\'s EHLO, then the client\'s connect_init and connect before its EHLO', async () => {
    const d = await SmtpDialog.connect(bed.gw.port);
    await d.hello({ helo: 'proxy.test', xclient: { addr: '93.184.216.1', helo: 'mail.example.org' } });
    assert.equal(await sendThrough(bed.gw.port, d, 'behind xclient'), 250);
    const raw = await bed.gw.sink.waitForText('behind xclient');
    assert.match(raw, /^X-Order: connect_init:127\.0\.0\.1 ehlo:127\.0\.0\.1:proxy\.test connect_init:93\.184\.216\.1 connect ehlo:93\.184\.216\.1:mail\.example\.org mail\r$/m);
    assert.ok(!bed.gw.logs.some((l) => /Plugin order failed/.test(String(l.msg))), 'no hook threw');
  });

  it('a trusted proxy that names no client: connect_init once, before its EHLO; connect at its MAIL', async () => {
    const d = await SmtpDialog.connect(bed.gw.port);
    await d.hello({ helo: 'proxy.test' });
    assert.equal(await sendThrough(bed.gw.port, d, 'proxy as client'), 250);
    const raw = await bed.gw.sink.waitForText('proxy as client');
    assert.match(raw, /^X-Order: connect_init:127\.0\.0\.1 ehlo:127\.0\.0\.1:proxy\.test connect mail\r$/m);
  });
});
