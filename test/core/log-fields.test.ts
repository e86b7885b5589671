// Log lines a typed log store can take and that keep no secret: a field has one meaning and one type in every line
// (the client's address is `client`, the sender `from`, the recipients `to`, always a list; greylisting's network is
// `network`, a control request's `result` a word), an HTTP request refused by allow_from is logged at info, and a path
// no route knows is logged without what may be a ticket.
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, type TestGateway } from '../helpers/gateway.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { waitUntil } from '../helpers/wait-for.ts';
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

  it('names the greylisted client network `network`, never `client` (an IP elsewhere), and the envelope `from` and `to`', async () => {
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
    assert.deepEqual([line.from, line.to, 'sender' in line, 'rcpt' in line], ['sender@client.example', ['user@example.com'], false, false]);
  });

  it('names the client `client` on a session\'s connect and connection closed lines, as on its refusals', async () => {
    const c = await SmtpDialog.connect(gw.port);
    await c.hello();
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.equal((await c.cmd('RCPT TO:<someone@elsewhere.example>')).code, 554);
    await c.quit();
    const refused = gw.logs.find((l) => l.msg === 'recipient refused' && String(l.to) === 'someone@elsewhere.example');
    assert.ok(refused);
    assert.equal(refused.client, '127.0.0.1');
    await waitUntil('the connection closed line', () => gw.logs.some((l) => l.cid === refused.cid && l.msg === 'connection closed'));
    const session = gw.logs.filter((l) => l.cid === refused.cid && (l.msg === 'connect' || l.msg === 'connection closed'));
    assert.deepEqual(session.map((l) => [l.msg, l.client, 'ip' in l]), [['connect', '127.0.0.1', false], ['connection closed', '127.0.0.1', false]]);
  });

  it('gives a recipient named by a control request as a list, and a --to selection as `domain` or `to`', async () => {
    const control = (req: Record<string, unknown>) => controlRequest(socketPath(gw.dataDir), req as never, 10_000).catch(() => undefined);
    await control({ op: 'recipient', action: 'release', id: 'a'.repeat(16), address: 'ann@example.com' });
    await control({ op: 'delete', id: 'b'.repeat(16), to: 'example.org' });
    await control({ op: 'delete', id: 'c'.repeat(16), to: 'bob@example.org' });
    const lines = gw.logs.filter((l) => l.msg === 'control request' && (l.op === 'recipient' || l.op === 'delete'));
    assert.deepEqual(lines.map((l) => [l.op, l.to, l.domain]), [
      ['recipient', ['ann@example.com'], undefined], ['delete', undefined, 'example.org'], ['delete', ['bob@example.org'], undefined],
    ]);
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

  it('has no line, of all these, whose `to` is not a list, or that names the client `ip` or the envelope `sender`/`rcpt`', () => {
    assert.ok(gw.logs.length > 20);
    for (const l of gw.logs) {
      if ('to' in l) assert.ok(Array.isArray(l.to), `${l.msg}: to ${JSON.stringify(l.to)}`);
      // Greylisting's debug lines (`greylist skipped`, `… retry in time`, `… passed`) still say `sender`/`rcpt`.
      if (String(l.msg).startsWith('greylist ')) continue;
      for (const other of ['sender', 'rcpt']) assert.ok(!(other in l), `${l.msg}: ${other}`);
    }
    const withIp = gw.logs.filter((l) => 'ip' in l && ['connect', 'connection closed', 'greylisted', 'control request'].includes(l.msg as string));
    assert.deepEqual(withIp, []);
  });
});
