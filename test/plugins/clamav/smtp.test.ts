// The clamav plugin end to end: real SMTP sessions into the gateway, a real clamd, a recording smarthost.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import type { SmtpReply } from '../../helpers/smtp-dialog.ts';
import { startClamd, startSlowProxy, EICAR, SIG_NAMES, type ClamdHandle, type SlowProxy } from '../../helpers/clamd.ts';
import { ClamdClient } from '../../../plugins/clamav/clamd-client.ts';
import { cleanMessage, eicarAttachment, eicarInBody, eicarInZip, mixedAttachments, sendOne } from './fixtures.ts';

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The first base64 line of the EICAR attachment as the fixtures encode it. */
const EICAR_B64 = Buffer.from(EICAR).toString('base64').slice(0, 76);

describe('clamav end to end', function () {
  this.timeout(30_000);
  let clamd: ClamdHandle;
  let smarthost: Smarthost;
  let proxy: SlowProxy;
  const gateways: TestGateway[] = [];

  before(async () => {
    clamd = await startClamd();
    smarthost = await startSmarthost();
    proxy = await startSlowProxy({ host: clamd.host, port: clamd.port }, 1500);
  });
  after(async () => {
    for (const g of gateways) await g.stop();
    await proxy?.stop();
    await smarthost?.stop();
    await clamd?.close();
  });

  async function gatewayWith(options: Record<string, unknown>): Promise<TestGateway> {
    const gw = await startGateway({
      config: { smarthost: `smtp://127.0.0.1:${smarthost.port}`, plugins: [{ name: 'clamav', ...options }] },
    });
    gateways.push(gw);
    return gw;
  }

  const send = (gw: TestGateway, message: string): Promise<SmtpReply> => sendOne(gw.port, message);

  const relayed = (marker: string): Promise<string> => smarthost.waitForText(marker);

  const scanWithClamd = (raw: string) =>
    new ClamdClient({ target: { socket: clamd.socket }, connectTimeout: 1000, scanTimeout: 5000 }).scan(Readable.from([Buffer.from(raw, 'latin1')]));

  describe('action reject (default), over the unix socket', () => {
    let gw: TestGateway;
    before(async () => { gw = await gatewayWith({ socket: clamd.socket }); });

    for (const [label, make, name] of [
      ['in the body', eicarInBody, SIG_NAMES.eicarBody],
      ['as an attachment', eicarAttachment, SIG_NAMES.eicarHash],
      ['inside a zip attachment', eicarInZip, SIG_NAMES.eicarHash],
    ] as const) {
      it(`refuses EICAR ${label} with 554 5.7.1 and the virus name`, async () => {
        const subject = `reject-${label.replace(/\W/g, '-')}`;
        const r = await send(gw, make(subject));
        assert.equal(r.code, 554, r.text);
        assert.equal(r.text, `5.7.1 Virus found: ${name}`);
        const line = gw.logs.find((l) => l.msg === 'message' && String(l.reply).includes(name));
        assert.ok(line, 'the message log line carries the reply with the virus name');
        assert.ok((line.symbols as string[]).some((s) => s.startsWith('CLAM_VIRUS')), JSON.stringify(line));
        assert.ok(gw.logs.some((l) => l.msg === 'virus found' && l.virus === name && l.action === 'reject'));
        assert.ok(!smarthost.messages.some((m) => m.raw.toString('latin1').includes(subject)));
      });
    }

    it('relays a clean message', async () => {
      const r = await send(gw, cleanMessage('clamav-clean-relayed'));
      assert.equal(r.code, 250, r.text);
      assert.match(await relayed('clamav-clean-relayed'), /^X-Mailmoat-Verdict: accept; /m);
    });

    it('answers 451 4.7.0 while clamd is stopped, and accepts the message once it is back', async () => {
      await clamd.stop();
      try {
        const r = await send(gw, cleanMessage('clamav-while-down'));
        assert.equal(r.code, 451, r.text);
        assert.match(r.text, /^4\.7\.0 /);
        assert.ok(gw.logs.some((l) => l.msg === 'virus scan failed' && l.kind === 'unreachable'));
      } finally {
        await clamd.start();
      }
      const again = await send(gw, cleanMessage('clamav-while-down'));
      assert.equal(again.code, 250, again.text);
      await relayed('clamav-while-down');
    });
  });

  describe('over TCP', () => {
    it('scans through clamd\'s TCP port', async () => {
      const gw = await gatewayWith({ host: clamd.host, port: clamd.port });
      assert.equal((await send(gw, eicarAttachment('tcp-eicar'))).code, 554);
      assert.equal((await send(gw, cleanMessage('clamav-tcp-clean'))).code, 250);
      await relayed('clamav-tcp-clean');
    });

    it('answers 451 when clamd answers after the scan timeout', async () => {
      const gw = await gatewayWith({ host: '127.0.0.1', port: proxy.port, scan_timeout: '300ms' });
      const t0 = Date.now();
      const r = await send(gw, cleanMessage('clamav-slow'));
      assert.equal(r.code, 451, r.text);
      assert.match(r.text, /^4\.7\.0 /);
      assert.ok(Date.now() - t0 < 1400, 'answered before the slow reply arrived');
      assert.ok(gw.logs.some((l) => l.msg === 'virus scan failed' && l.kind === 'timeout'));
    });
  });

  describe('concurrency', () => {
    it('keeps at most max_concurrent scans in flight and answers every message', async () => {
      const delayed = await startSlowProxy({ host: clamd.host, port: clamd.port }, 150);
      try {
        const gw = await gatewayWith({ host: '127.0.0.1', port: delayed.port, max_concurrent: 2, scan_timeout: '5s' });
        const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => send(gw, cleanMessage(`clamav-parallel-${i}`))));
        assert.deepEqual(replies.map((r) => r.code), [250, 250, 250, 250, 250, 250]);
        assert.equal(delayed.peak, 2);
      } finally {
        await delayed.stop();
      }
    });
  });

  describe('other actions and policies', () => {
    it('quarantine: accepts with 250 and keeps the message in the quarantine folder, not relayed', async () => {
      const gw = await gatewayWith({ socket: clamd.socket, action: 'quarantine' });
      const r = await send(gw, eicarAttachment('clamav-quarantined'));
      assert.equal(r.code, 250, r.text);
      const id = /queued as (\S+)/.exec(r.text)![1];
      const dir = path.join(gw.dataDir, 'quarantine');
      const eml = fs.readFileSync(path.join(dir, `${id}.eml`), 'latin1');
      assert.ok(eml.includes(EICAR_B64), 'the quarantined copy is the original message');
      const entry = JSON.parse(fs.readFileSync(path.join(dir, `${id}.json`), 'utf8'));
      assert.equal(entry.verdict.action, 'quarantine');
      assert.ok(entry.verdict.symbols.includes('CLAM_VIRUS'));
      await new Promise((res) => setTimeout(res, 300));
      assert.ok(!smarthost.messages.some((m) => m.raw.toString('latin1').includes('clamav-quarantined')));
    });

    it('strip: relays the message with each infected part replaced by a notice, and it now scans clean', async () => {
      const gw = await gatewayWith({ socket: clamd.socket, action: 'strip' });
      const r = await send(gw, mixedAttachments('clamav-stripped'));
      assert.equal(r.code, 250, r.text);
      const out = await relayed('clamav-stripped');
      assert.match(out, new RegExp(`^X-Mailmoat-Virus: stripped; ${esc(SIG_NAMES.eicarHash)}, ${esc(SIG_NAMES.marker)}\\r$`, 'm'));
      assert.match(out, new RegExp(`contained the virus ${esc(SIG_NAMES.eicarHash)} and was removed`));
      assert.match(out, new RegExp(`contained the virus ${esc(SIG_NAMES.marker)} and was removed`));
      assert.ok(out.includes(Buffer.from('Quarterly figures: all good.\r\n').toString('base64')), 'the clean attachment is kept');
      assert.ok(!out.includes(EICAR_B64));
      assert.deepEqual(await scanWithClamd(out), { infected: false });
      assert.ok(gw.logs.some((l) => l.msg === 'infected parts stripped'));
    });

    it('strip: replaces the body of a single-part message that carries the virus', async () => {
      const gw = await gatewayWith({ socket: clamd.socket, action: 'strip', notice: 'Removed: {virus}' });
      assert.equal((await send(gw, eicarInBody('clamav-stripped-body'))).code, 250);
      const out = await relayed('clamav-stripped-body');
      assert.match(out, new RegExp(`\\r\\n\\r\\nRemoved: ${esc(SIG_NAMES.eicarBody)}\\r\\n$`));
      assert.ok(!out.includes(EICAR));
    });

    it('tag: relays the message with the virus in a header', async () => {
      const gw = await gatewayWith({ socket: clamd.socket, action: 'tag', header: 'X-Virus' });
      assert.equal((await send(gw, eicarInZip('clamav-tagged'))).code, 250);
      assert.match(await relayed('clamav-tagged'), new RegExp(`^X-Virus: infected; ${esc(SIG_NAMES.eicarHash)}\\r$`, 'm'));
    });

    it('on_error accept: relays unscanned with a warning header while clamd is away', async () => {
      const gw = await gatewayWith({ socket: path.join(clamd.dir, 'not-there.sock'), on_error: 'accept' });
      assert.equal((await send(gw, cleanMessage('clamav-unscanned'))).code, 250);
      assert.match(await relayed('clamav-unscanned'), /^X-Mailmoat-Virus: unscanned; scanner unreachable\r$/m);
      // The start's warning says what this setting does, not that mail is deferred.
      assert.ok(gw.logs.some((l) => l.msg === 'clamd does not answer; mail passes unscanned (on_error: accept) until it does'), JSON.stringify(gw.logs.filter((l) => String(l.msg).startsWith('clamd'))));
    });

    it('treats a message clamd refuses as over its StreamMaxLength as one over max_scan_size (552; on_oversize decides)', async () => {
      const small = await startClamd({ streamMaxLength: '64K' });
      try {
        const big = cleanMessage('clamav-clamd-limit') + 'filler line of text\r\n'.repeat(6000);
        const gw = await gatewayWith({ socket: small.socket });
        const r = await send(gw, big);
        assert.equal(r.code, 552, r.text);
        assert.match(r.text, /^5\.3\.4 /);
        assert.ok(gw.logs.some((l) => String(l.msg).startsWith('clamd refused the message as over its StreamMaxLength')));
        const tempfail = await gatewayWith({ socket: small.socket, on_oversize: 'tempfail' });
        assert.equal((await send(tempfail, big)).code, 452);
        const accept = await gatewayWith({ socket: small.socket, on_oversize: 'accept' });
        assert.equal((await send(accept, big.replace('clamav-clamd-limit', 'clamav-clamd-limit-accept'))).code, 250);
        assert.match(await relayed('clamav-clamd-limit-accept'), /^X-Mailmoat-Virus: unscanned; message over \d+ bytes\r$/m);
      } finally {
        await small.close();
      }
    });

    it('scanner: command runs clamscan on the spool file', async () => {
      const gw = await gatewayWith({ scanner: 'command', command: { template: `clamscan --no-summary -d ${clamd.dbDir} {file}` } });
      const r = await send(gw, eicarInZip('clamav-command-zip'));
      assert.equal(r.code, 554, r.text);
      assert.equal(r.text, `5.7.1 Virus found: ${SIG_NAMES.eicarHash}`);
      assert.equal((await send(gw, cleanMessage('clamav-command-clean'))).code, 250);
      await relayed('clamav-command-clean');
    });

    it('a message over max_scan_size is refused with 552 5.3.4 by default', async () => {
      const gw = await gatewayWith({ socket: clamd.socket, max_scan_size: '1KB' });
      const r = await send(gw, cleanMessage('clamav-oversize') + 'x'.repeat(2000) + '\r\n');
      assert.equal(r.code, 552, r.text);
      assert.match(r.text, /^5\.3\.4 Message too large to scan/);
    });
  });
});
