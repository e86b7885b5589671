// The clamd client against a real clamd: verdicts, version, and each way a scan can fail.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ClamdClient, parseScanReply, parseVersion } from '../../../plugins/clamav/clamd-client.ts';
import { ScanError } from '../../../plugins/clamav/scan-result.ts';
import { startClamd, startSlowProxy, SIG_NAMES, type ClamdHandle } from '../../helpers/clamd.ts';
import { freePort } from '../../helpers/ports.ts';
import { cleanMessage, eicarAttachment, eicarInBody, eicarInZip } from './fixtures.ts';

const from = (s: string | Buffer) => Readable.from([Buffer.from(s)]);

async function scanError(p: Promise<unknown>): Promise<ScanError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof ScanError, `expected a ScanError, got ${String(err)}`);
  return err;
}

describe('clamav clamd client', function () {
  let clamd: ClamdHandle;
  let unix: ClamdClient;
  let tcp: ClamdClient;

  before(async function () {
    clamd = await startClamd({ streamMaxLength: '1M' });
    unix = new ClamdClient({ target: { socket: clamd.socket }, connectTimeout: 1000, scanTimeout: 5000 });
    tcp = new ClamdClient({ target: { host: clamd.host, port: clamd.port }, connectTimeout: 1000, scanTimeout: 5000 });
  });
  after(async () => { await clamd?.close(); });

  it('answers PING and VERSION on the unix socket and on TCP', async () => {
    assert.equal(await unix.ping(), true);
    assert.equal(await tcp.ping(), true);
    assert.match((await tcp.version()).engine, /^ClamAV \d+\.\d+/);
  });

  it('finds EICAR in the body, as an attachment and inside a zip', async () => {
    assert.deepEqual(await unix.scan(from(eicarInBody())), { infected: true, viruses: [SIG_NAMES.eicarBody] });
    assert.deepEqual(await tcp.scan(from(eicarAttachment())), { infected: true, viruses: [SIG_NAMES.eicarHash] });
    assert.deepEqual(await unix.scan(from(eicarInZip())), { infected: true, viruses: [SIG_NAMES.eicarHash] });
  });

  it('passes a clean message streamed in many small chunks', async () => {
    const msg = Buffer.from(cleanMessage() + 'filler line\r\n'.repeat(20_000));
    const chunks = Array.from({ length: Math.ceil(msg.length / 1000) }, (_, i) => msg.subarray(i * 1000, (i + 1) * 1000));
    assert.deepEqual(await unix.scan(Readable.from(chunks)), { infected: false });
  });

  it('reports clamd\'s size limit as a size-limit error', async () => {
    const err = await scanError(unix.scan(from(Buffer.alloc(2 * 1024 * 1024, 'a'))));
    assert.equal(err.kind, 'size-limit');
  });

  it('reports a closed port and a missing socket as unreachable', async () => {
    const port = await freePort();
    assert.equal((await scanError(new ClamdClient({ target: { host: '127.0.0.1', port }, connectTimeout: 500, scanTimeout: 500 }).scan(from('x')))).kind, 'unreachable');
    assert.equal((await scanError(new ClamdClient({ target: { socket: `${clamd.dir}/nothing.sock` }, connectTimeout: 500, scanTimeout: 500 }).scan(from('x')))).kind, 'unreachable');
  });

  it('closes the message stream when clamd cannot be reached', async () => {
    const port = await freePort();
    const input = fs.createReadStream(path.join(clamd.dir, 'clamd.conf'));
    await scanError(new ClamdClient({ target: { host: '127.0.0.1', port }, connectTimeout: 500, scanTimeout: 500 }).scan(input));
    assert.equal(input.destroyed, true);
  });

  it('gives up on a slow clamd at the scan timeout', async () => {
    const proxy = await startSlowProxy({ host: clamd.host, port: clamd.port }, 800);
    try {
      const slow = new ClamdClient({ target: { host: '127.0.0.1', port: proxy.port }, connectTimeout: 500, scanTimeout: 200 });
      const t0 = Date.now();
      assert.equal((await scanError(slow.scan(from(eicarInBody())))).kind, 'timeout');
      assert.ok(Date.now() - t0 < 700, 'the timeout fired before the delayed reply');
      const patient = new ClamdClient({ target: { host: '127.0.0.1', port: proxy.port }, connectTimeout: 500, scanTimeout: 3000 });
      assert.equal((await patient.scan(from(eicarInBody()))).infected, true);
    } finally {
      await proxy.stop();
    }
  });

  it('parses replies and versions', () => {
    assert.deepEqual(parseScanReply('stream: OK\0'), { infected: false });
    assert.deepEqual(parseScanReply('stream: Win.Test.EICAR_HDB-1 FOUND\0'), { infected: true, viruses: ['Win.Test.EICAR_HDB-1'] });
    assert.throws(() => parseScanReply('INSTREAM size limit exceeded. ERROR\0'), (e: ScanError) => e.kind === 'size-limit');
    assert.throws(() => parseScanReply('Some other problem. ERROR'), (e: ScanError) => e.kind === 'error');
    assert.deepEqual(parseVersion('ClamAV 1.4.6/27450/Tue Nov 17 09:32:12 2026\0'),
      { engine: 'ClamAV 1.4.6', signatures: 27450, signatureDate: 'Tue Nov 17 09:32:12 2026', raw: 'ClamAV 1.4.6/27450/Tue Nov 17 09:32:12 2026' });
  });
});
