// The PROXY header parser on its own (pure logic): v1 and v2 told apart by their first bytes, every field checked,
// hostile input (truncated, wrong lengths, junk, a byte at a time) refused or awaited, never read past its bounds.
// The bounded log lines of refused and unfinished headers, on a clock the test moves.
import assert from 'node:assert/strict';
import { readProxyHeader, type ProxyRead } from '../../../core/smtp/proxy-header.ts';
import { ProxyHeaderLog } from '../../../core/smtp/proxy-header-log.ts';
import type { Logger, LogFields } from '../../../core/log/types.ts';
import { proxyV2, SIGNATURE } from './proxy-v2-builder.ts';

const latin1 = (s: string) => Buffer.from(s, 'latin1');
const done = (r: ProxyRead) => { assert.equal(r.state, 'done', JSON.stringify(r)); return (r as Extract<ProxyRead, { state: 'done' }>).header; };
const reason = (r: ProxyRead) => { assert.equal(r.state, 'bad', JSON.stringify(r)); return (r as Extract<ProxyRead, { state: 'bad' }>).reason; };

describe('PROXY v1 header', () => {
  it('takes TCP4 and TCP6 with the client and its port, and says where the header ends', () => {
    const h = done(readProxyHeader(latin1('PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\nEHLO x\r\n')));
    assert.deepEqual(h, { version: 1, length: 44, client: { ip: '192.0.2.7', port: 40000, localIp: '198.51.100.1', localPort: 25 } });
    assert.equal(done(readProxyHeader(latin1('PROXY TCP6 2001:db8::5 2001:db8::25 1 25\r\n'))).client?.ip, '2001:db8::5');
  });

  it('keeps the socket\'s own address for UNKNOWN, whatever follows it', () => {
    assert.deepEqual(done(readProxyHeader(latin1('PROXY UNKNOWN\r\n'))), { version: 1, length: 15 });
    assert.equal(done(readProxyHeader(latin1('PROXY UNKNOWN 192.0.2.66 ::1 1 2\r\n'))).client, undefined);
  });

  it('refuses lower case, a bare LF, a stray CR, double spaces and ports with leading zeros', () => {
    assert.match(reason(readProxyHeader(latin1('proxy TCP4 192.0.2.7 198.51.100.1 1 25\r\n'))), /not a PROXY header/);
    assert.match(reason(readProxyHeader(latin1('PROXY tcp4 192.0.2.7 198.51.100.1 1 25\r\n'))), /unknown protocol family "tcp4"/);
    assert.match(reason(readProxyHeader(latin1('PROXY TCP4 192.0.2.7 198.51.100.1 1 25\n'))), /bare LF/);
    assert.match(reason(readProxyHeader(latin1('PROXY TCP4 192.0.2.7\r198.51.100.1 1 25\r\n'))), /not printable ASCII/);
    assert.match(reason(readProxyHeader(latin1('PROXY TCP4  192.0.2.7 198.51.100.1 1 25\r\n'))), /source address/);
    assert.match(reason(readProxyHeader(latin1('PROXY TCP4 192.0.2.7 198.51.100.1 025 25\r\n'))), /ports/);
  });

  it('refuses a line over 107 bytes, and takes one of exactly 107', () => {
    const fill = (n: number) => `PROXY UNKNOWN ${'x'.repeat(n)}\r\n`;
    assert.equal(latin1(fill(91)).length, 107);
    assert.equal(done(readProxyHeader(latin1(fill(91)))).length, 107);
    assert.match(reason(readProxyHeader(latin1(fill(92)))), /no CRLF within 107 bytes/);
    // Without its end yet: refused once 107 bytes have come, not awaited for ever.
    assert.match(reason(readProxyHeader(latin1(`PROXY UNKNOWN ${'x'.repeat(93)}`))), /no CRLF within 107/);
  });

  it('refuses a control byte at once, before any line end', () => {
    assert.match(reason(readProxyHeader(Buffer.from([...latin1('PROXY TCP4 1'), 0x00]))), /not printable ASCII/);
    assert.match(reason(readProxyHeader(Buffer.from([...latin1('PROXY '), 0xff]))), /not printable ASCII/);
  });

  it('waits for more on every prefix of a good header', () => {
    const full = latin1('PROXY TCP4 192.0.2.7 198.51.100.1 40000 25\r\n');
    for (let n = 1; n < full.length; n++) {
      const r = readProxyHeader(full.subarray(0, n));
      assert.equal(r.state, 'more', `${n} bytes: ${JSON.stringify(r)}`);
    }
  });
});

describe('PROXY v2 header', () => {
  it('takes PROXY over INET and INET6 (an IPv4-mapped source as its IPv4 address)', () => {
    assert.deepEqual(done(readProxyHeader(proxyV2({ source: '192.0.2.10', dest: '198.51.100.1', sourcePort: 40000, destPort: 25 }))), {
      version: 2, length: 28, client: { ip: '192.0.2.10', port: 40000, localIp: '198.51.100.1', localPort: 25 },
    });
    const six = done(readProxyHeader(proxyV2({ source: '2001:db8:0:0:0:0:0:5', dest: '2001:db8::25', sourcePort: 1234 })));
    assert.deepEqual([six.length, six.client?.ip, six.client?.port, six.client?.localIp], [52, '2001:db8::5', 1234, '2001:db8::25']);
    assert.equal(done(readProxyHeader(proxyV2({ source: '::ffff:192.0.2.1', dest: '::1' }))).client?.ip, '192.0.2.1');
  });

  it('keeps the socket\'s own address for LOCAL (whatever family and bytes it carries) and for PROXY over UNSPEC', () => {
    assert.deepEqual(done(readProxyHeader(proxyV2({ command: 'LOCAL', family: 0, transport: 0 }))), { version: 2, length: 16 });
    const odd = Buffer.concat([proxyV2({ command: 'LOCAL', family: 0xf, transport: 0xf, trailing: Buffer.from([1, 2, 3, 4, 5]) }), latin1('EHLO')]);
    assert.deepEqual(done(readProxyHeader(odd)), { version: 2, length: 21 });
    assert.deepEqual(done(readProxyHeader(proxyV2({ family: 0, transport: 0, trailing: Buffer.alloc(12) }))), { version: 2, length: 28 });
  });

  it('steps over TLVs within the length, and takes the largest header the length allows', () => {
    const tlvs = [
      { type: 0x02, value: latin1('mx.example') },
      { type: 0xea, value: Buffer.concat([Buffer.from([0x01]), latin1('vpce-0123456789abcdef')]) },
      { type: 0x04, value: Buffer.alloc(7) },
    ];
    const h = done(readProxyHeader(Buffer.concat([proxyV2({ tlvs }), latin1('EHLO x\r\n')])));
    assert.equal(h.length, 16 + 12 + 13 + 25 + 10);
    assert.equal(h.client?.ip, '192.0.2.10');
    const largest = proxyV2({ tlvs: [{ type: 0x04, value: Buffer.alloc(0xffff - 12 - 3) }] });
    assert.equal(largest.length, 16 + 0xffff);
    assert.equal(done(readProxyHeader(largest)).length, 16 + 0xffff);
  });

  it('refuses a wrong version, an unknown command, AF_UNIX, DGRAM and families it does not know', () => {
    assert.match(reason(readProxyHeader(proxyV2({ version: 1 }))), /version 1/);
    assert.match(reason(readProxyHeader(proxyV2({ command: 2 }))), /unknown command 2/);
    assert.match(reason(readProxyHeader(proxyV2({ family: 3, trailing: Buffer.alloc(216) }))), /AF_UNIX/);
    assert.match(reason(readProxyHeader(proxyV2({ transport: 2 }))), /DGRAM/);
    assert.match(reason(readProxyHeader(proxyV2({ transport: 0 }))), /not STREAM/);
    assert.match(reason(readProxyHeader(proxyV2({ family: 5, trailing: Buffer.alloc(12) }))), /unknown address family 5/);
  });

  it('refuses as soon as the byte that shows it has come, not after the length', () => {
    const bad = proxyV2({ family: 3, length: 0xffff });
    assert.match(reason(readProxyHeader(bad.subarray(0, 14))), /AF_UNIX/);
    assert.match(reason(readProxyHeader(proxyV2({ version: 3 }).subarray(0, 13))), /version 3/);
  });

  it('refuses lengths too short for the addresses and TLVs that run past the length', () => {
    assert.match(reason(readProxyHeader(proxyV2({ length: 8 }))), /too short for the IPv4 addresses/);
    assert.match(reason(readProxyHeader(proxyV2({ source: '2001:db8::5', length: 20 }))), /too short for the IPv6/);
    // A TLV header that says 100 bytes, with 2 of them before the length ends.
    assert.match(reason(readProxyHeader(proxyV2({ trailing: Buffer.from([0x04, 0x00, 0x64, 0xaa, 0xbb]) }))), /runs past/);
    assert.match(reason(readProxyHeader(proxyV2({ trailing: Buffer.from([0x04, 0x00]) }))), /cut off/);
  });

  it('waits for the length it was told, a byte at a time, and never reads past it', () => {
    const full = proxyV2({ tlvs: [{ type: 0x02, value: latin1('mx.example') }] });
    for (let n = 1; n < full.length; n++) {
      const r = readProxyHeader(full.subarray(0, n));
      assert.equal(r.state, 'more', `${n} bytes: ${JSON.stringify(r)}`);
      assert.ok((r as { need: number }).need > n && (r as { need: number }).need <= full.length);
    }
    // The client's own bytes that follow are not the header's, even when they look like a TLV.
    assert.equal(done(readProxyHeader(Buffer.concat([full, Buffer.from([0x04, 0xff, 0xff])]))).length, full.length);
  });

  it('refuses junk: a signature wrong in one byte, or random bytes, without throwing', () => {
    for (let i = 0; i < SIGNATURE.length; i++) {
      const wrong = proxyV2();
      wrong[i] ^= 0x20;
      assert.equal(readProxyHeader(wrong).state, 'bad', `signature byte ${i}`);
    }
    // A fixed seed, so a failure is the same at every run.
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let round = 0; round < 2000; round++) {
      const len = 1 + (next() % 64);
      const junk = Buffer.from(Array.from({ length: len }, next));
      // Half start with the v2 signature, so the fields past it are junk too.
      const input = round % 2 ? Buffer.concat([SIGNATURE, junk]) : junk;
      const r = readProxyHeader(input);
      if (r.state === 'more') assert.ok(r.need > input.length && r.need <= 16 + 0xffff);
      if (r.state === 'done') assert.ok(r.header.length <= input.length);
    }
  });
});

describe('PROXY header log lines', () => {
  function recorder(): { log: Logger; lines: Array<LogFields & { level: string; msg: string }> } {
    const lines: Array<LogFields & { level: string; msg: string }> = [];
    const at = (level: string) => (msg: string, fields: LogFields = {}) => { lines.push({ level, msg, ...fields }); };
    const log: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
    return { log, lines };
  }

  it('writes each proxy and cause once, then one line a minute with the count', () => {
    let now = 1_000_000;
    const { log, lines } = recorder();
    const l = new ProxyHeaderLog(() => now, 60_000);
    const refused = (proxy: string, cause: string) => l.event(log, 'refused', { proxy, listener: 'smtp', cause }, { input: 'x' });
    for (let i = 0; i < 50; i++) refused('127.0.0.1', 'version 1 in a v2 signature');
    refused('127.0.0.1', 'AF_UNIX names no client address the checks could judge');
    refused('127.0.0.2', 'version 1 in a v2 signature');
    l.event(log, 'timed out', { proxy: '127.0.0.1', listener: 'smtp', cause: 'nothing was sent' }, { timeout_ms: 5000, bytes: 0 });
    assert.deepEqual(lines.map((x) => [x.level, x.msg, x.proxy, x.reason]), [
      ['info', 'client refused: invalid PROXY header', '127.0.0.1', 'version 1 in a v2 signature'],
      ['info', 'client refused: invalid PROXY header', '127.0.0.1', 'AF_UNIX names no client address the checks could judge'],
      ['info', 'client refused: invalid PROXY header', '127.0.0.2', 'version 1 in a v2 signature'],
      ['warn', 'PROXY header timed out', '127.0.0.1', 'nothing was sent'],
    ]);
    assert.equal(lines[0].input, 'x');
    lines.length = 0;
    now += 61_000;
    l.flush();
    assert.deepEqual(lines.map((x) => [x.msg, x.proxy, x.reason, x.count, x.seconds]), [
      ['client refused: invalid PROXY header, repeated', '127.0.0.1', 'version 1 in a v2 signature', 49, 61],
    ]);
    // A cause quiet for its whole minute is forgotten: its next event has a line of its own again.
    lines.length = 0;
    now += 61_000;
    l.flush();
    refused('127.0.0.2', 'version 1 in a v2 signature');
    assert.deepEqual(lines.map((x) => [x.msg, x.proxy]), [['client refused: invalid PROXY header', '127.0.0.2']]);
  });
});
