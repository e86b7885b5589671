// connection.current_line holds the command line in every command hook, as Haraka sets it: karma reads it in mail
// and rcpt (`current_line.toUpperCase()`), and threw on every MAIL and RCPT while it was null there.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { startWorld, IP, message, type ShimWorld } from './setup.ts';
import { SmtpDialog } from '../../helpers/smtp-dialog.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';

const LINES = `
const keep = (connection) => {
  const lines = connection.notes.lines = connection.notes.lines || []
  lines.push(connection.current_line)
}
for (const hook of ['helo', 'ehlo', 'mail', 'rcpt', 'data']) {
  exports['hook_' + hook] = function (next, connection) { keep(connection); next() }
}
exports.hook_data_post = function (next, connection) {
  connection.transaction.add_header('X-Current-Lines', connection.notes.lines.join(' | '))
  next()
}
`;

describe('haraka shim: connection.current_line in the command hooks (with karma)', function () {
  this.timeout(30_000);
  let world: ShimWorld;
  let gw: RelayingGateway;
  let release: () => void;

  before(async () => {
    world = await startWorld();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'haraka-current-line-'));
    release = holdUntilExit({ dir });
    cpSync(world.dir, dir, { recursive: true });
    writeFileSync(path.join(dir, 'config', 'plugins'), 'redis\nkarma\nlines\n');
    writeFileSync(path.join(dir, 'plugins', 'lines.js'), LINES);
    gw = await startRelayingGateway({
      config: {
        domains: ['example.test'],
        dns: { servers: [world.dns.address], timeout: '500ms', tries: 1 },
        plugins: [{ name: 'haraka', dir, dns_servers: [world.dns.address], timeout: '20s', log_level: 'INFO' }],
      },
    });
  });
  after(async () => {
    await gw?.stop();
    await world?.stop();
    release?.();
  });

  it('gives every hook its command line, and karma runs its MAIL and RCPT checks without a throw', async () => {
    const d = await SmtpDialog.connect(gw.port);
    await d.hello({ helo: 'mail.example.org', xclient: { addr: IP.clean, helo: 'mail.example.org' } });
    assert.equal((await d.cmd('MAIL FROM:<alice@example.org> SIZE=300 BODY=8BITMIME')).code, 250);
    assert.equal((await d.cmd('RCPT TO:<bob@example.test>')).code, 250);
    assert.equal((await d.data(message())).code, 250);
    await d.quit();
    const raw = await gw.sink.waitForText('X-Current-Lines');
    const lines = /^X-Current-Lines: (.*)\r$/m.exec(raw)![1];
    // EHLO twice: the proxy's, then the client's after XCLIENT, on the same connection object.
    assert.equal(lines, 'EHLO mail.example.org | EHLO mail.example.org | MAIL FROM:<alice@example.org> SIZE=300 BODY=8BITMIME | RCPT TO:<bob@example.test> | DATA');
    const thrown = gw.logs.filter((l) => JSON.stringify(l).includes('toUpperCase'));
    assert.deepEqual(thrown.map((l) => l.msg), []);
    // karma's checks ran to their end: no RFC-syntax failure for a well-formed line.
    assert.match(raw, /^X-Haraka-Karma: score: /m);
  });
});
