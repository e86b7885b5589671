// recipient-verify after a plugin that redirects the recipient (an alias table, as Haraka's aliases plugin does): the
// server behind is asked about the addresses the alias goes to, never about the alias's own name, which it may not know.
// This file is also the alias plugin: the gateway imports it by its own URL.
import assert from 'node:assert/strict';
import { aliasPlugin } from '../../helpers/alias-plugin.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startNextHop, type NextHop } from './next-hop.ts';
import { send, rcpt, logged, until } from './session.ts';

const ALIASES: Record<string, string[]> = {
  'permteam@corp.example': ['ann@corp.example'],
  'badteam@corp.example': ['ann@corp.example', 'ghost@corp.example'],
  'outside@corp.example': ['ann@corp.example', 'friend@elsewhere.example'],
  'busyteam@corp.example': ['busy@corp.example'],
  'mxteam@corp.example': ['one@mx.corp.example'],
  // A name the server behind knows itself (a mailbox made into an alias later): only a wrong order lets it through.
  'oldbox@corp.example': ['ghost@corp.example'],
};

export default aliasPlugin('alias-for-verify', ALIASES);

const alias = { name: 'alias-for-verify', module: import.meta.filename };
const asked = (hop: NextHop) => hop.probeRcpts().map((l) => l.replace(/^RCPT TO:<(.*)>.*$/i, '$1').toLowerCase());

describe('plugins/recipient-verify: a recipient an earlier plugin redirected', function () {
  this.timeout(20_000);
  let hop: NextHop;
  let gw: TestGateway | undefined;
  before(async () => {
    hop = await startNextHop();
    // The server behind knows neither alias name: only ann and the others.
    for (const name of Object.keys(ALIASES)) if (name !== 'oldbox@corp.example') hop.refuse.set(name, 550);
    hop.refuse.set('ghost@corp.example', 550);
  });
  afterEach(async () => { await gw?.stop(); gw = undefined; });
  after(async () => { await hop?.stop(); });

  async function start(plugins: unknown[]) {
    gw = await startGateway({
      config: { domains: ['corp.example', 'mx.corp.example'], smarthost: `smtp://127.0.0.1:${hop.port}`, plugins },
    });
  }
  const verify = () => ({ name: 'recipient-verify', target: `smtp://127.0.0.1:${hop.probePort}`, routes: { 'mx.corp.example': 'mx' } });
  const inOrder = () => [alias, verify()];

  it('asks about the alias\'s target, not its name: the alias is taken and the message reaches the target', async () => {
    await start(inOrder());
    const r = await send(gw!.port, ['permteam@corp.example']);
    assert.equal(r.rcpts[0].code, 250, r.rcpts[0].text);
    assert.equal(r.data?.code, 250);
    assert.ok(asked(hop).includes('ann@corp.example'), 'ann was probed');
    assert.ok(!asked(hop).includes('permteam@corp.example'), 'the alias name was never probed');
    await until(() => hop.delivered.some((m) => m.to.includes('ann@corp.example')), 'delivery to ann');
  });

  it('refuses the alias with 550 5.1.1 when one of its targets is undeliverable, and logs which one', async () => {
    await start(inOrder());
    const r = await rcpt(gw!.port, 'badteam@corp.example');
    assert.equal(r.code, 550);
    assert.match(r.text, /^5\.1\.1 <badteam@corp\.example>: Recipient address rejected: undeliverable \(an address it is forwarded to was refused by the next hop: 550 5\.1\.1 <ghost@corp\.example>: no such user here\)$/);
    const line = await logged(gw!.logs, (l) => l.msg === 'recipient refused by the server behind' && l.redirected_from === 'badteam@corp.example', 'the refusal in the log');
    assert.deepEqual(line.to, ['ghost@corp.example']);
    assert.ok(!asked(hop).includes('badteam@corp.example'));
  });

  it('does not probe a target outside the local domains, nor one whose route is mx; the others are probed', async () => {
    await start(inOrder());
    const before = asked(hop).length;
    assert.equal((await rcpt(gw!.port, 'outside@corp.example')).code, 250);
    assert.equal((await rcpt(gw!.port, 'mxteam@corp.example')).code, 250);
    const now = asked(hop).slice(before);
    assert.ok(!now.includes('friend@elsewhere.example') && !now.includes('one@mx.corp.example') && !now.includes('outside@corp.example') && !now.includes('mxteam@corp.example'), `asked: ${now.join(', ')}`);
    await logged(gw!.logs, (l) => l.msg === 'recipient-verify does not verify this domain' && l.domain === 'mx.corp.example', 'the mx route said once');
  });

  it('a target the server behind cannot answer for (4xx) gives the alias 450 4.1.1 with on_error: tempfail', async () => {
    hop.refuse.set('busy@corp.example', 451);
    await start(inOrder());
    const r = await rcpt(gw!.port, 'busyteam@corp.example');
    assert.equal(r.code, 450);
    assert.match(r.text, /^4\.1\.1 <busyteam@corp\.example>: Recipient address verification failed temporarily/);
    const line = await logged(gw!.logs, (l) => l.msg === 'recipient verification failed' && l.redirected_from === 'busyteam@corp.example', 'the failure in the log');
    assert.deepEqual(line.to, ['busy@corp.example']);
  });

  it('listed after it, refuses an alias to an unknown user even when the server behind knows the alias\'s name', async () => {
    await start(inOrder());
    assert.equal((await rcpt(gw!.port, 'oldbox@corp.example')).code, 550);
  });

  it('listed before the alias plugin, it judges the alias\'s name, and the log says to swap them', async () => {
    await start([verify(), alias]);
    assert.equal((await rcpt(gw!.port, 'oldbox@corp.example')).code, 250, 'the name, which the server behind knows, is what it asked about');
    const w = await logged(gw!.logs, (l) => String(l.msg).startsWith('plugin order'), 'the order warning');
    assert.deepEqual([w.reader, w.redirector], ['recipient-verify', 'alias-for-verify']);
  });
});
