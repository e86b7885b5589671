// Stress (core/smtp/stress-mode.ts): once the connections open reach server.stress_threshold of limits.max_connections,
// idle clients get server.stress_idle_timeout and then 421 4.4.2, and the error and junk limits are 1, until the
// connections fall below three quarters of the mark. A message being sent, relay.networks, a message already
// answered 250 and a client waiting for its greeting (slow connect hooks) are untouched; the log and the metrics say when it began and ended and how many sessions it cut short.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import net, { type Socket } from 'node:net';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { SmtpDialog, testMessage } from '../../helpers/smtp-dialog.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor, waitUntil } from '../../helpers/wait-for.ts';
import { StressMode, stressMarks, STRESS_LINE_INTERVAL_MS } from '../../../core/smtp/stress-mode.ts';

const SLOW_CONNECT = path.resolve(import.meta.dirname, 'slow-connect-plugin.ts');
/** A client whose connect hook takes longer than STRESS_IDLE (a blocklist or PTR lookup on a bad day). */
const SLOW_CLIENT = '127.7.8.1';

const MAX = 10;
/** 0.8 of MAX: stress from the 8th connection, until fewer than 6 are open. */
const THRESHOLD = 0.8;
const IDLE = '1m';
const STRESS_IDLE = '2s';
const TRUSTED_NET = '127.6.0';

describe('stress under a connection flood', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  let httpPort: number;
  const open: SmtpDialog[] = [];

  /** A session from `ip` that has read its 220 and says nothing more. */
  async function idle(ip: string): Promise<SmtpDialog> {
    const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: ip });
    open.push(d);
    const r = await d.read();
    assert.equal(r.code, 220, `${ip}: ${r.code} ${r.text}`);
    return d;
  }
  const trusted = (n: number) => Promise.all(Array.from({ length: n }, (_, i) => idle(`${TRUSTED_NET}.${i + 1}`)));
  const stressed = () => gw.gateway.runtime.connections.stress.active;
  const counter = (name: string) => gw.gateway.runtime.metrics.counters.get(name) ?? 0;
  /** The value of one sample of GET /metrics. */
  async function scraped(sample: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    assert.ok(line, `${sample} in the scrape`);
    return Number(line.slice(sample.length + 1));
  }
  /** The idle time each session's socket is armed with now, on the gateway's side. */
  function armedTimeouts(): number[] {
    const server = gw.gateway.listeners[0].server as unknown as { connections: Set<{ _socket: Socket }> };
    return [...server.connections].map((c) => c._socket.timeout ?? 0);
  }
  /** Ends every session the test opened and waits until the gateway counts none. */
  async function closeAll(): Promise<void> {
    for (const d of open.splice(0)) d.hangUp();
    await waitUntil('every connection to close', () => gw.gateway.runtime.connections.count === 0);
  }

  before(async () => {
    httpPort = await freePort();
    gw = await startGateway({
      config: {
        server: { greeting_delay: 0, idle_timeout: IDLE, stress_threshold: THRESHOLD, stress_idle_timeout: STRESS_IDLE, tls_listen: ['127.0.0.1:0'] },
        limits: { max_connections: MAX, max_errors: 5, error_block: '1m' },
        relay: { networks: [`${TRUSTED_NET}.0/24`] },
        access: { blocked_recipients: ['blocked@example.com'] },
        http: { listen: [`127.0.0.1:${httpPort}`] },
        plugins: [{ name: 'slow-connect', module: SLOW_CONNECT, delay_ms: 3_000, clients: [SLOW_CLIENT] }],
      },
    });
  });
  afterEach(closeAll);
  after(async () => { await gw?.stop(); });

  it('changes nothing below the threshold: idle_timeout and max_errors as configured', async () => {
    const sessions = await Promise.all(Array.from({ length: 7 }, (_, i) => idle(`127.7.0.${i + 1}`)));
    assert.equal(stressed(), false);
    assert.equal(await scraped('mailmoat_stress'), 0);
    assert.deepEqual(armedTimeouts(), Array(7).fill(60_000));
    // Two refusals of five allowed: answered, and the session goes on.
    const d = sessions[0];
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 503);
    assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 503);
    assert.equal((await d.cmd('NOOP')).code, 250);
    assert.equal((await d.cmd('NOOP')).code, 250);
    assert.ok(!gw.logs.some((l) => String(l.msg).startsWith('stress:')), 'no stress line');
  });

  it('closes idle clients past the threshold after stress_idle_timeout with 421 4.4.2, keeps trusted ones, then greets a new client', async () => {
    const closedBefore = counter('connections_closed_under_stress');
    // Six of relay.networks hold their places throughout, so the count stays in stress once the others are gone.
    const kept = await trusted(6);
    const from = gw.logs.length;
    const flood = [await idle('127.7.1.1'), await idle('127.7.1.2')];
    assert.equal(stressed(), true, 'the 8th connection began stress');
    flood.push(await idle('127.7.1.3'), await idle('127.7.1.4'));
    const on = gw.logs.slice(from).filter((l) => l.msg === 'stress: on');
    assert.deepEqual(on.map((l) => [l.level, l.open, l.max, l.enter_at, l.leave_below]), [['warn', 8, MAX, 8, 6]]);
    assert.equal(await scraped('mailmoat_stress'), 1);
    // Those open before stress too: the trusted ones keep idle_timeout, the others have stress's.
    assert.deepEqual(armedTimeouts().sort((a, b) => a - b), [...Array(4).fill(2_000), ...Array(6).fill(60_000)]);
    // Full: a new client is refused until an idle one is gone.
    const refused = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.7.1.9' });
    open.push(refused);
    assert.match((await refused.read()).text, /^4\.7\.0 Too many connections/);

    const cut = await Promise.all(flood.map((d) => d.read(20_000)));
    for (const r of cut) {
      assert.equal(r.code, 421);
      assert.equal(r.text, '4.4.2 Timeout - server busy, idle connections are closed sooner; closing connection');
    }
    await waitUntil('the idle clients to be disconnected', () => flood.every((d) => d.closed));
    assert.equal(counter('connections_closed_under_stress'), closedBefore + 4);
    const timedOut = gw.logs.slice(from).filter((l) => l.msg === 'client timed out');
    assert.deepEqual(timedOut.map((l) => [l.after, String(l.reply).slice(0, 22)]), Array(4).fill(['CONNECT', '421 4.4.2 Timeout - se']));

    const newcomer = await waitFor('a new client to be greeted', async () => {
      const d = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: '127.7.1.10' });
      open.push(d);
      const r = await d.read();
      return r.code === 220 ? d : undefined;
    });
    assert.equal((await newcomer.cmd('QUIT')).code, 221);
    for (const d of kept) assert.equal((await d.cmd('NOOP')).code, 250, 'a trusted client is not cut');
    assert.equal(stressed(), true, 'six open: still above the mark where stress ends');

    for (const d of kept) d.hangUp();
    const off = await waitFor('stress to end', () => gw.logs.slice(from).find((l) => l.msg === 'stress: off'));
    assert.deepEqual([off.level, off.open, off.leave_below, off.peak_open, off.closed_early], ['info', 5, 6, MAX, 4]);
    assert.equal(await scraped('mailmoat_stress'), 0);
    assert.equal(await scraped('mailmoat_connections_closed_under_stress_total'), closedBefore + 4);
  });

  it('lets a message being sent go on past stress_idle_timeout, and answers it 250 before cutting the idle session', async () => {
    const sender = await idle('127.7.2.1');
    assert.equal((await sender.cmd('EHLO client.test')).code, 250);
    assert.equal((await sender.cmd('MAIL FROM:<slow@client.example>')).code, 250);
    assert.equal((await sender.cmd('RCPT TO:<user@example.com>')).code, 250);
    assert.equal((await sender.cmd('DATA')).code, 354);
    const message = testMessage({ subject: 'sent under stress', body: 'first part\r\nsecond part\r\n' });
    const half = message.indexOf('second part');
    sender.write(message.slice(0, half));

    await trusted(6);
    const witness = await idle('127.7.2.2');
    assert.equal(stressed(), true);
    // The witness went quiet after the sender: once it is cut, the sender has been quiet longer than stress allows.
    assert.match((await witness.read(20_000)).text, /^4\.4\.2 Timeout - server busy/);
    assert.equal(sender.closed, false, 'the message being sent is not cut');
    sender.write(`${message.slice(half)}.\r\n`);
    const accepted = await sender.read(20_000);
    assert.equal(accepted.code, 250, `${accepted.code} ${accepted.text}`);
    // Answered and queued: what stress does to the idle session after it leaves the message alone.
    const after = await sender.read(20_000);
    assert.match(after.text, /^4\.4\.2 Timeout - server busy/);
    const line = gw.logs.find((l) => l.msg === 'message' && l.from === 'slow@client.example');
    assert.equal(line?.verdict, 'accept');
    const delivered = await waitFor('the message to be delivered', () => {
      const dir = path.join(gw.dataDir, 'delivered');
      const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.eml')) : [];
      return files.length ? readFileSync(path.join(dir, files[0]), 'utf8') : undefined;
    });
    assert.match(delivered, /first part\r\nsecond part\r\n/);
  });

  it('greets a client whose connect hooks outlast stress_idle_timeout: its idle time starts at the greeting', async () => {
    await trusted(8);
    assert.equal(stressed(), true);
    const from = gw.logs.length;
    const slow = await SmtpDialog.connect(gw.port, '127.0.0.1', { localAddress: SLOW_CLIENT });
    open.push(slow);
    // The gateway owes the greeting while its hooks run (3 s, past the 2 s of stress): no 421 for that wait.
    const greeting = await slow.read(20_000);
    assert.equal(greeting.code, 220, `${greeting.code} ${greeting.text}`);
    // Once greeted, the client owes the next command, and stress's time applies to it.
    const cut = await slow.read(20_000);
    assert.equal(cut.code, 421);
    assert.match(cut.text, /^4\.4\.2 Timeout - server busy/);
    const timedOut = gw.logs.slice(from).filter((l) => l.msg === 'client timed out');
    assert.deepEqual(timedOut.map((l) => l.after), ['CONNECT']);
  });

  it('drops sockets on the implicit-TLS port that never shake hands, under stress', async () => {
    await trusted(6);
    const port = gw.gateway.port('smtps');
    const sockets = await Promise.all([1, 2].map((i) => new Promise<Socket>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: `127.7.5.${i}` }, () => resolve(s));
      s.once('error', reject);
    })));
    let dropped = 0;
    for (const s of sockets) s.once('close', () => { dropped++; });
    try {
      await waitUntil('the sockets to be counted', () => stressed());
      // Within waitUntil's 10 s: idle_timeout, five minutes, would let them wait that long.
      await waitUntil('the sockets to be dropped', () => dropped === sockets.length);
    } finally { for (const s of sockets) s.destroy(); }
  });

  it('ends a session right after its first error, or at its second junk command, under stress, without error_block, and spares trusted ones', async () => {
    const kept = await trusted(8);
    assert.equal(stressed(), true);
    const own = kept[0];
    assert.equal((await own.cmd('RCPT TO:<user@example.com>')).code, 503, 'a trusted client keeps max_errors');
    assert.equal((await own.cmd('NOOP')).code, 250);
    assert.equal((await own.cmd('NOOP')).code, 250);

    const from = gw.logs.length;
    const erring = await idle('127.7.3.1');
    assert.equal((await erring.cmd('EHLO client.test')).code, 250);
    assert.equal((await erring.cmd('MAIL FROM:<someone@client.example>')).code, 250);
    assert.equal((await erring.cmd('RCPT TO:<user@example.com>')).code, 250);
    // The refusal that reaches the limit reaches the client as it is: a permanent one bounces that recipient, where a
    // 421 in its place would have the client defer the whole message and retry it into the same wall.
    const refused = await erring.cmd('RCPT TO:<blocked@example.com>');
    assert.equal(refused.code, 550, `${refused.code} ${refused.text}`);
    assert.match(refused.text, /^5\.7\.1 /);
    const line = gw.logs.slice(from).find((l) => l.msg === 'too many errors: disconnecting');
    assert.deepEqual([line?.error_count, line?.blocked_ms, line?.stress], [1, 0, true]);
    const r = await erring.read();
    assert.equal(r.code, 421);
    assert.equal(r.text, '4.7.0 Too many errors, closing connection');
    await waitUntil('the erring client to be disconnected', () => erring.closed);

    const again = await idle('127.7.3.1');
    assert.equal((await again.cmd('NOOP')).code, 250, 'not blocked: it may come back');
    const junk = await again.cmd('NOOP');
    assert.equal(junk.code, 421);
    assert.match(junk.text, /^4\.7\.0 Too many commands that send no mail/);
  });
});

describe('StressMode', () => {
  it('begins at the threshold\'s share of max_connections and ends below three quarters of it', () => {
    assert.deepEqual(stressMarks({ threshold: 0.8, max: 1000 }), { enterAt: 800, leaveBelow: 600 });
    assert.deepEqual(stressMarks({ threshold: 1, max: 10 }), { enterAt: 10, leaveBelow: 7 });
    assert.deepEqual(stressMarks({ threshold: 0.01, max: 10 }), { enterAt: 1, leaveBelow: 1 });
    assert.equal(stressMarks({ threshold: 0, max: 10 }), undefined);
    const s = new StressMode(() => 0);
    const settings = { threshold: 0.8, max: 10 };
    const seen: boolean[] = [];
    s.watch((c) => seen.push(c.active));
    for (const n of [7, 8, 7, 6, 7, 8, 6, 5, 6, 7]) s.observe(n, settings);
    assert.deepEqual(seen, [true, false], 'on at 8, off below 6, and not back on at 7');
    assert.equal(s.limit(10, false), 10);
    s.observe(8, settings);
    assert.deepEqual([s.limit(10, false), s.limit(10, true)], [1, 10]);
    s.observe(8, { threshold: 0, max: 10 });
    assert.equal(s.active, false, 'a reload that turns it off ends it');
  });

  it('writes at most one pair of lines a minute, and the next line sums the episodes held back', () => {
    let now = 1_000_000;
    const s = new StressMode(() => now);
    const settings = { threshold: 0.5, max: 4 };
    const lines: Array<[string, Record<string, number>]> = [];
    s.watch((c) => { if (c.line) lines.push([c.line.msg, c.line.fields]); });
    const episode = (cut: number) => {
      s.observe(2, settings);
      for (let i = 0; i < cut; i++) s.closedEarly();
      s.observe(1);
      s.observe(0);
      now += 1000;
    };
    for (let i = 0; i < 30; i++) episode(2);
    assert.deepEqual(lines.map(([m]) => m), ['stress: on', 'stress: off']);
    assert.equal(lines[1][1].closed_early, 2);
    now += STRESS_LINE_INTERVAL_MS;
    episode(1);
    assert.deepEqual(lines.slice(2), [
      ['stress: on', { open: 2, max: 4, enter_at: 2, leave_below: 1, episodes_not_logged: 29, closed_early_not_logged: 58 }],
      ['stress: off', { open: 0, leave_below: 1, lasted_s: 0, peak_open: 2, closed_early: 1 }],
    ]);
  });
});
