// The clamav plugin's own time limits against the core's hook timeout, and the header it owns: a queued or slow scan
// is answered as `on_error` says (never by the core's 451 4.3.0), and a sender's copy of the header never passes.
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';
import { startClamd, SIG_NAMES, type ClamdHandle } from '../../helpers/clamd.ts';
import { validatePluginOptions } from '../../../core/plugin/loader.ts';
import { cleanMessage, eicarAttachment, sendOne } from './fixtures.ts';

/** A TCP server in clamd's place that accepts and never answers, as a clamd stopped with SIGSTOP does. */
async function silentClamd(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => { sockets.add(sock); sock.on('error', () => {}).on('close', () => sockets.delete(sock)); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    async stop() { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}

/** A message carrying a header as a sender wrote it. */
const withHeader = (message: string, field: string) => `${field}\r\n${message}`;

describe('clamav time budget and its header', function () {
  this.timeout(60_000);
  let smarthost: Smarthost;
  const gateways: TestGateway[] = [];

  before(async () => { smarthost = await startSmarthost(); });
  after(async () => {
    for (const g of gateways) await g.stop();
    await smarthost?.stop();
  });

  async function gatewayWith(entry: Record<string, unknown>): Promise<TestGateway> {
    const gw = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${smarthost.port}`, plugins: [{ name: 'clamav', ...entry }] } });
    gateways.push(gw);
    return gw;
  }

  const send = (gw: TestGateway, message: string): Promise<SmtpReply> => sendOne(gw.port, message);

  describe('the entry timeout against the plugin\'s own limits', () => {
    const entry = (options: Record<string, unknown>, timeout: number) =>
      ({ name: 'clamav', host: '127.0.0.1', port: 3310, required: false, timeout, ...options });

    it('refuses a hook timeout that is not above max_wait + connect_timeout + scan_timeout', async () => {
      const issues = await validatePluginOptions([entry({ scan_timeout: '3s', max_concurrent: 1, on_error: 'accept' }, 5_000)]);
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.equal(issues[0].path, 'plugins[0].timeout');
      assert.match(issues[0].message, /^is 5s, not above max_wait \+ connect_timeout \+ scan_timeout \(10s\)/);
    });

    it('counts no connect time for a command-line scanner', async () => {
      const issues = await validatePluginOptions([{ name: 'clamav', scanner: 'command', command: { template: 'true' }, required: false, timeout: 6_000, scan_timeout: '1s' }]);
      assert.match(issues[0]?.message ?? '', /not above max_wait \+ scan_timeout \(6s\)/);
      assert.deepEqual(await validatePluginOptions([{ name: 'clamav', scanner: 'command', command: { template: 'true' }, required: false, timeout: 6_001, scan_timeout: '1s' }]), []);
    });

    it('fits its defaults under the default 30 s hook timeout', async () => {
      assert.deepEqual(await validatePluginOptions([entry({}, 30_000)]), []);
    });
  });

  describe('a scan that waits for a slot while clamd hangs', () => {
    let silent: Awaited<ReturnType<typeof silentClamd>>;
    before(async () => { silent = await silentClamd(); });
    after(async () => { await silent?.stop(); });

    const options = (onError: string) => ({
      host: '127.0.0.1', port: silent.port, max_concurrent: 1, max_wait: '500ms', connect_timeout: '500ms', scan_timeout: '1500ms',
      timeout: '5s', on_error: onError,
    });

    it('on_error accept: relays both messages unscanned, the one that found no slot too', async () => {
      const gw = await gatewayWith(options('accept'));
      const [a, b] = await Promise.all([send(gw, cleanMessage('budget-accept-a')), send(gw, cleanMessage('budget-accept-b'))]);
      assert.deepEqual([a.code, b.code], [250, 250], `${a.text} / ${b.text}`);
      for (const marker of ['budget-accept-a', 'budget-accept-b']) {
        assert.match(await smarthost.waitForText(marker), /^X-Mailmoat-Virus: unscanned; scanner timeout\r$/m);
      }
      assert.ok(gw.logs.some((l) => l.msg === 'virus scan failed' && /no free scan slot within 500 ms/.test(String(l.error))), 'one waited for a slot');
      assert.ok(!gw.logs.some((l) => /timed out/.test(String(l.msg))), JSON.stringify(gw.logs.filter((l) => l.level === 'error')));
    });

    it('on_error tempfail: defers both with 451 4.7.0, never the core\'s 4.3.0', async () => {
      const gw = await gatewayWith(options('tempfail'));
      const replies = await Promise.all([send(gw, cleanMessage('budget-tempfail-a')), send(gw, cleanMessage('budget-tempfail-b'))]);
      for (const r of replies) {
        assert.equal(r.code, 451, r.text);
        assert.match(r.text, /^4\.7\.0 /);
      }
    });
  });

  describe('a sender\'s copy of the plugin\'s header', () => {
    let clamd: ClamdHandle;
    before(async () => { clamd = await startClamd(); });
    after(async () => { await clamd?.close(); });

    const fields = (relayed: string, name: string) => relayed.split('\r\n\r\n')[0].split('\r\n').filter((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));

    it('tag: an infected message leaves with our header only, the forged "clean" removed', async () => {
      const gw = await gatewayWith({ socket: clamd.socket, action: 'tag', header: 'X-Virus-Status' });
      const r = await send(gw, withHeader(eicarAttachment('forged-clean-infected'), 'X-Virus-Status: clean'));
      assert.equal(r.code, 250, r.text);
      assert.deepEqual(fields(await smarthost.waitForText('forged-clean-infected'), 'X-Virus-Status'), [`X-Virus-Status: infected; ${SIG_NAMES.eicarHash}`]);
    });

    it('on_error accept: mail we did not scan keeps no forged "clean"', async () => {
      const gw = await gatewayWith({ socket: `${clamd.dir}/not-there.sock`, on_error: 'accept', header: 'X-Virus-Status' });
      assert.equal((await send(gw, withHeader(cleanMessage('forged-clean-unscanned'), 'x-virus-status: clean'))).code, 250);
      assert.deepEqual(fields(await smarthost.waitForText('forged-clean-unscanned'), 'X-Virus-Status'), ['X-Virus-Status: unscanned; scanner unreachable']);
    });

    it('a clean scan removes the sender\'s copy and adds none', async () => {
      const gw = await gatewayWith({ socket: clamd.socket, header: 'X-Virus-Status' });
      assert.equal((await send(gw, withHeader(cleanMessage('forged-infected-clean'), 'X-Virus-Status: infected; Fake'))).code, 250);
      assert.deepEqual(fields(await smarthost.waitForText('forged-infected-clean'), 'X-Virus-Status'), []);
    });
  });
});
