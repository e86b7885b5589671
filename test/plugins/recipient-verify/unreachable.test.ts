// When the server behind cannot be asked: on_error tempfail (450 4.1.1) or pass; and a route's own target still answers.
import assert from 'node:assert/strict';
import net from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { freePort } from '../../helpers/ports.ts';
import { startNextHop, type NextHop } from './next-hop.ts';
import { rcpt, logged } from './session.ts';

describe('plugins/recipient-verify: a server behind that cannot be asked', function () {
  this.timeout(20_000);
  let hop: NextHop;
  let strict: TestGateway;
  let lenient: TestGateway;
  let silentGw: TestGateway;
  let down: number;
  // Takes connections and never greets: the probe must give up on its own.
  const silent = net.createServer(() => undefined);
  const held = new Set<net.Socket>();
  let silentConnections = 0;
  silent.on('connection', (s) => { silentConnections++; held.add(s); s.on('close', () => held.delete(s)); });
  before(async () => {
    hop = await startNextHop();
    // Chosen and never bound: connections to it are refused.
    down = await freePort();
    const entry = { name: 'recipient-verify', target: `smtp://127.0.0.1:${down}`, routes: { 'routed.example': `smtp://127.0.0.1:${hop.probePort}` } };
    const domains = ['example.com', 'routed.example'];
    strict = await startGateway({ config: { domains, plugins: [entry] } });
    lenient = await startGateway({ config: { domains, plugins: [{ ...entry, on_error: 'pass' }] } });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const silentPort = (silent.address() as net.AddressInfo).port;
    silentGw = await startGateway({ config: { plugins: [{ name: 'recipient-verify', target: `smtp://127.0.0.1:${silentPort}`, probe_timeout: '300ms' }] } });
  });
  after(async () => {
    await strict?.stop();
    await lenient?.stop();
    await silentGw?.stop();
    for (const c of held) c.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    await hop?.stop();
  });

  it('on_error: tempfail (the default) answers 450 4.1.1 and logs why', async () => {
    const r = await rcpt(strict.port, 'anyone@example.com');
    assert.equal(r.code, 450);
    assert.match(r.text, /^4\.1\.1 <anyone@example\.com>: Recipient address verification failed temporarily/);
    const line = await logged(strict.logs, (l) => l.msg === 'recipient verification failed' && String(l.to) === 'anyone@example.com', 'the failure');
    assert.match(String(line.reason), new RegExp(`cannot connect to 127\\.0\\.0\\.1:${down}`));
    assert.equal(line.action, 'tempfail');
  });

  it('on_error: pass lets the recipient through', async () => {
    assert.equal((await rcpt(lenient.port, 'anyone@example.com')).code, 250);
    await logged(lenient.logs, (l) => l.msg === 'recipient verification failed' && l.action === 'pass', 'the failure, passed');
  });

  it('a server that never answers is given up after probe_timeout: 450, and nothing is cached', async () => {
    assert.equal((await rcpt(silentGw.port, 'mute@example.com')).code, 450);
    const line = await logged(silentGw.logs, (l) => l.msg === 'recipient verification failed' && String(l.to) === 'mute@example.com', 'the timeout');
    assert.match(String(line.reason), /300 ms/);
    assert.equal((await rcpt(silentGw.port, 'mute@example.com')).code, 450);
    assert.equal(silentConnections, 2, 'the second RCPT asked again');
  });

  it('a domain with a route of its own is asked at that route', async () => {
    hop.refuse.set('nobody@routed.example', 550);
    assert.equal((await rcpt(strict.port, 'user@routed.example')).code, 250);
    assert.equal((await rcpt(strict.port, 'nobody@routed.example')).code, 550);
  });
});
