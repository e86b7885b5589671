// Log lines a typed log store can take and that keep no secret: a field has one meaning and one type in every line
// (greylisting's network is `network`, a control request's `result` a word), an HTTP request refused by allow_from is
// logged at info, and a path no route knows is logged without what may be a ticket.
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { controlRequest } from '../../core/control/client.ts';
import { socketPath } from '../../core/control/protocol.ts';
import { resultFields } from '../../core/control/server.ts';
import { unknownPathForLog } from '../../core/http/server.ts';

/** A GET from `localAddress` (a loopback address of its own), answered with its status. */
function get(port: number, target: string, localAddress = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: target, localAddress }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)); }).on('error', reject);
  });
}

describe('log fields: one name and type each, nothing secret', function () {
  this.timeout(30_000);
  let gw: TestGateway;
  let httpPort: number;
  before(async () => {
    gw = await startGateway({
      config: {
        http: { listen: ['127.0.0.1:0'], allow_from: ['127.0.0.1/32'] },
        plugins: [{ name: 'greylist', delay: '5m', retry_window: '1h' }],
      },
    });
    httpPort = gw.gateway.admin!.addresses[0].port;
  });
  after(async () => { await gw?.gateway.stop(); });

  it('logs a request refused by http.allow_from at info, with why', async () => {
    assert.equal(await get(httpPort, '/metrics', '127.0.0.2'), 403);
    const line = gw.logs.find((l) => l.msg === 'http request' && l.status === 403);
    assert.ok(line);
    assert.deepEqual([line.level, line.client, line.path, line.reason], ['info', '127.0.0.2', '/metrics', 'not in http.allow_from']);
    assert.equal(await get(httpPort, '/metrics'), 200);
    assert.equal(gw.logs.find((l) => l.msg === 'http request' && l.status === 200)?.level, 'debug', 'an answered request stays at debug');
  });

  it('logs an unknown path without what may be a ticket or token', async () => {
    const ticket = 'eyJpZCI6InF1YXJhbnRpbmVkIn0.c2lnbmF0dXJlLW9mLXRoZS10aWNrZXQ';
    assert.equal(await get(httpPort, `/quarantine/${ticket}`), 404);
    assert.equal(await get(httpPort, `/${ticket}`), 404);
    assert.equal(await get(httpPort, '/nothing-here'), 404);
    const paths = gw.logs.filter((l) => l.msg === 'http request' && l.status === 404).map((l) => l.path);
    assert.deepEqual(paths, ['/quarantine/…', '/*', '/nothing-here']);
    assert.ok(!JSON.stringify(gw.logs).includes(ticket.slice(0, 20)), 'the ticket is in no line');
    assert.deepEqual([unknownPathForLog('/'), unknownPathForLog('/a%2Fb'), unknownPathForLog('/release/x/y')], ['/', '/*', '/release/…']);
  });

  it('names the greylisted client network `network`, never `client` (an IP elsewhere)', async () => {
    const c = await SmtpDialog.connect(gw.port);
    try {
      await c.hello();
      await c.cmd('MAIL FROM:<sender@client.example>');
      assert.equal((await c.cmd('RCPT TO:<user@example.com>')).code, 451);
    } finally { await c.quit(); }
    const line = gw.logs.find((l) => l.msg === 'greylisted');
    assert.ok(line);
    assert.equal(line.network, '127.0.0.0/24');
    assert.ok(!('client' in line));
  });

  it('gives a control request\'s `result` as a word in every line, a count beside it', async () => {
    await controlRequest(socketPath(gw.dataDir), { op: 'flush' }, 10_000);
    const flush = gw.logs.find((l) => l.msg === 'control request' && l.op === 'flush');
    assert.ok(flush);
    assert.deepEqual([flush.result, flush.count], ['done', 0]);
    assert.deepEqual(resultFields({ reloaded: false, file: '/etc/m.yaml', errors: ['limits.x: unknown key'] }), { result: 'refused', file: '/etc/m.yaml', errors: ['limits.x: unknown key'] });
    const reloaded = resultFields({ reloaded: true, changed: ['log.level'], restartOnly: [], plugins: ['greylist'] });
    assert.deepEqual([reloaded.result, reloaded.changed, reloaded.restart_only], ['reloaded', ['log.level'], []]);
    assert.equal(resultFields('missing').result, 'missing');
  });
});
