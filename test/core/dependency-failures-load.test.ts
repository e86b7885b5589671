// The gateway's dependencies failing under load: a spawned `moat start` with clamav (a real clamd), greylist on
// Redis, rbl and urlbl on the loopback DNS server, relaying to a recording smarthost. Ten clients send all the
// time while clamd is SIGKILLed and restarted, Redis is stopped and started on its port, the DNS server stops
// answering on its port and comes back, and answers later than dns.timeout. Every reply must be the fail-safe
// the plugin documents for the phase it fell in (never a 5xx for clean mail, never a hang), each dependency is
// used again within seconds of its return, every 250 reaches the smarthost, and no descriptors leak.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import { spawnGateway, startGateway, type SpawnedGateway } from '../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../helpers/smarthost.ts';
import { startRedis, type RedisHandle } from '../helpers/redis.ts';
import { startDnsServer, type DnsTestServer } from '../helpers/dns-server.ts';
import { startClamd, MARKER, type ClamdHandle } from '../helpers/clamd.ts';
import { SmtpDialog } from '../helpers/smtp-dialog.ts';
import { freePort } from '../helpers/ports.ts';

type Kind = 'clean' | 'virus' | 'link' | 'grey';
type Phase = 'healthy' | 'clamd-down' | 'redis-down' | 'dns-down' | 'dns-slow' | 'changing';

/** What a transaction of each kind may end with in each phase: `code enhanced` of its last reply. */
const ALLOWED: Record<Exclude<Phase, 'changing'>, Record<Kind, string[]>> = {
  healthy: { clean: ['250'], virus: ['554 5.7.1'], link: ['554 5.7.1'], grey: ['451 4.7.1'] },
  'clamd-down': { clean: ['451 4.7.0'], virus: ['451 4.7.0'], link: ['554 5.7.1'], grey: ['451 4.7.1'] },
  // on_store_error: pass (the default): a new triplet goes through, unscanned by greylisting only.
  'redis-down': { clean: ['250'], virus: ['554 5.7.1'], link: ['554 5.7.1'], grey: ['250'] },
  // rbl and urlbl: a list that does not answer is a temporary failure (451 4.4.3), never a pass.
  'dns-down': { clean: ['451 4.4.3'], virus: ['451 4.4.3'], link: ['451 4.4.3'], grey: ['451 4.7.1'] },
  'dns-slow': { clean: ['451 4.4.3'], virus: ['451 4.4.3'], link: ['451 4.4.3'], grey: ['451 4.7.1'] },
};

interface Outcome { kind: Kind; sender: string; marker: string; start: number; end: number; reply: string; text: string }

/** A UDP front on a fixed port for the DNS test server, so "the DNS server" can stop and start again on that port. */
class DnsFront {
  readonly port: number;
  private readonly upstream: number;
  private sock?: dgram.Socket;
  constructor(port: number, upstream: number) { this.port = port; this.upstream = upstream; }
  async start(): Promise<void> {
    const front = dgram.createSocket('udp4');
    front.on('message', (msg, rinfo) => {
      const up = dgram.createSocket('udp4');
      const timer = setTimeout(() => up.close(), 5000);
      up.on('message', (answer) => {
        clearTimeout(timer);
        up.close();
        if (this.sock === front) front.send(answer, rinfo.port, rinfo.address);
      });
      up.send(msg, this.upstream, '127.0.0.1');
    });
    await new Promise<void>((resolve, reject) => { front.once('error', reject); front.bind(this.port, '127.0.0.1', () => resolve()); });
    this.sock = front;
  }
  async stop(): Promise<void> {
    const s = this.sock;
    this.sock = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function openFiles(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

function clamdPid(clamd: ClamdHandle): number {
  const want = `--config-file=${path.join(clamd.dir, 'clamd.conf')}`;
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes(want)) return Number(p);
    } catch { /* gone */ }
  }
  throw new Error('clamd process not found');
}

describe('dependencies failing under load', function () {
  this.timeout(90_000);
  let clamd: ClamdHandle | undefined;
  let redis: RedisHandle | undefined;
  let dns: DnsTestServer | undefined;
  let front: DnsFront | undefined;
  let sink: Smarthost | undefined;
  let gw: SpawnedGateway | undefined;

  after(async () => {
    await gw?.kill();
    await front?.stop();
    await dns?.stop();
    await redis?.stop();
    await clamd?.close();
    await sink?.stop();
  });

  it('answers each outage with its fail-safe, recovers without a restart, loses nothing and leaks nothing', async () => {
    [clamd, redis, dns, sink] = await Promise.all([
      startClamd(),
      startRedis(),
      startDnsServer({
        zones: {
          'bl.test': { 'nobody': { A: '127.0.0.2' } },
          'dbl.test': { 'evil.test': { A: '127.0.1.2' } },
        },
        negativeTtl: 1, ttl: 1,
      }),
      startSmarthost(),
    ]);
    front = new DnsFront(await freePort(), dns.port);
    await front.start();
    gw = await spawnGateway({
      config: {
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        state: { backend: 'redis', redis: { url: redis.url } },
        dns: { servers: [`127.0.0.1:${front.port}`], timeout: '400ms', tries: 1, cache_size: 0 },
        limits: { max_connections: 200, max_connections_per_ip: 200 },
        plugins: [
          { name: 'rbl', zones: [{ zone: 'bl.test', action: 'score', score: 1 }] },
          { name: 'greylist', delay: '1h', skip_sender_domains: ['load.test'] },
          { name: 'urlbl', zones: [{ zone: 'dbl.test', action: 'reject' }] },
          { name: 'clamav', host: clamd.host, port: clamd.port, connect_timeout: '500ms', scan_timeout: '2s', max_wait: '1s', timeout: '4s' },
        ],
      },
    });
    const pid = gw.child.pid!;

    let phase: Phase = 'healthy';
    const phases: Array<{ at: number; phase: Phase }> = [{ at: Date.now(), phase }];
    const setPhase = (p: Phase) => { phase = p; phases.push({ at: Date.now(), phase: p }); };
    const outcomes: Outcome[] = [];
    const failures: string[] = [];
    let running = true;
    let paused = false;
    let seq = 0;

    const body = (kind: Kind, marker: string): string => {
      const text = kind === 'virus' ? `Attached: ${MARKER}\r\n` : kind === 'link' ? 'Cheap: http://www.evil.test/buy\r\n' : 'Hello.\r\n';
      return `From: a@load.test\r\nTo: user@example.com\r\nSubject: ${marker}\r\nMessage-ID: <${marker}@load.test>\r\n\r\n${text}`;
    };

    /** One transaction; its outcome is the first refusal or the reply to the final dot. */
    const transaction = async (kind: Kind, client: number): Promise<void> => {
      const n = ++seq;
      const marker = `dep-load-${n}`;
      const sender = kind === 'grey' ? `g${n}@grey.test` : `s${n}@load.test`;
      const start = Date.now();
      const d = await SmtpDialog.connect(gw!.port);
      let reply = 'none';
      let text = '';
      try {
        const hello = await d.hello({ xclient: { addr: `93.184.216.${10 + client}` } });
        if (hello.code !== 250) throw new Error(`EHLO/XCLIENT answered ${hello.code} ${hello.text}`);
        const steps: Array<() => Promise<{ code: number; text: string }>> = [
          () => d.cmd(`MAIL FROM:<${sender}>`),
          () => d.cmd('RCPT TO:<user@example.com>'),
          () => d.data(body(kind, marker)),
        ];
        for (const step of steps) {
          const r = await step();
          reply = `${r.code}${r.code >= 400 ? ' ' + (r.text.match(/^\d\.\d+\.\d+/)?.[0] ?? '?') : ''}`;
          text = r.text;
          if (r.code >= 400) break;
        }
      } finally {
        await d.quit();
      }
      outcomes.push({ kind, sender, marker, start, end: Date.now(), reply, text });
    };

    const kinds: Kind[] = ['clean', 'virus', 'clean', 'link', 'clean', 'grey'];
    const clients = Array.from({ length: 10 }, async (_, c) => {
      for (let i = c; running; i++) {
        if (paused) { await sleep(50); continue; }
        try { await transaction(kinds[i % kinds.length], c); } catch (err) { failures.push(`client ${c}: ${(err as Error).message}`); await sleep(100); }
      }
    });

    /** Waits until a transaction of `kind` that started after `since` ended with `reply`; returns how long it took. */
    const recovered = async (kind: Kind, reply: string, since: number, what: string): Promise<number> => {
      const deadline = since + 6000;
      for (;;) {
        const hit = outcomes.find((o) => o.kind === kind && o.start > since && o.reply === reply);
        if (hit) return hit.end - since;
        if (Date.now() > deadline) throw new Error(`${what}: no ${kind} mail answered ${reply} within 6 s of its return`);
        await sleep(50);
      }
    };

    /** Descriptors with no transaction in flight: pause the clients, let the relay settle, count. */
    const quietFds = async (): Promise<number> => {
      paused = true;
      await sleep(2500);
      const n = openFiles(pid);
      paused = false;
      return n;
    };

    const recovery: Record<string, number> = {};
    try {
      await sleep(2000);
      const fdsBefore = await quietFds();
      await sleep(1000);

      // clamd SIGKILLed and started again.
      setPhase('changing');
      process.kill(clamdPid(clamd), 'SIGKILL');
      await sleep(300);
      setPhase('clamd-down');
      await sleep(2000);
      setPhase('changing');
      await clamd.start();
      let back = Date.now();
      recovery.clamd = await recovered('virus', '554 5.7.1', back, 'clamd');
      setPhase('healthy');
      await sleep(1000);

      // Redis stopped and started again on the same port.
      setPhase('changing');
      const redisPort = redis.port;
      await redis.stop();
      redis = undefined;
      await sleep(300);
      setPhase('redis-down');
      await sleep(2500);
      setPhase('changing');
      redis = await startRedis({ port: redisPort });
      back = Date.now();
      recovery.redis = await recovered('grey', '451 4.7.1', back, 'redis');
      setPhase('healthy');
      await sleep(1000);

      // The DNS server gone from its port, then back on it.
      setPhase('changing');
      await front.stop();
      await sleep(300);
      setPhase('dns-down');
      await sleep(2000);
      setPhase('changing');
      await front.start();
      back = Date.now();
      recovery.dnsStopped = await recovered('link', '554 5.7.1', back, 'dns after stop');
      setPhase('healthy');
      await sleep(1000);

      // The DNS server answering later than dns.timeout.
      setPhase('changing');
      await dns.setBehaviour('.', { delay: 1500 });
      await sleep(600);
      setPhase('dns-slow');
      await sleep(2500);
      setPhase('changing');
      await dns.clearBehaviours();
      back = Date.now();
      recovery.dnsSlow = await recovered('link', '554 5.7.1', back, 'dns after slow answers');
      await sleep(1600);
      setPhase('healthy');
      await sleep(1000);

      const fdsAfter = await quietFds();
      running = false;
      await Promise.all(clients);

      // Every reply is one its phase allows; a transaction spanning a change may take either side's.
      const phaseAt = (t: number) => { let p = phases[0]; for (const q of phases) if (q.at <= t) p = q; return phases.indexOf(p); };
      const wrong: string[] = [];
      const seen: Record<string, Record<string, number>> = {};
      for (const o of outcomes) {
        const from = phaseAt(o.start);
        const to = phaseAt(o.end);
        const span = phases.slice(from, to + 1).map((p) => p.phase);
        const strict = span.every((p) => p !== 'changing');
        const allowed = new Set(span.flatMap((p) => (p === 'changing' ? [] : ALLOWED[p][o.kind])));
        if (!strict) {
          // Around a change, a reply of the phase before or after it is right.
          const around = [phases[Math.max(0, from - 1)].phase, phases[Math.min(phases.length - 1, to + 1)].phase];
          for (const p of around) if (p !== 'changing') for (const a of ALLOWED[p][o.kind]) allowed.add(a);
        }
        const key = `${span.join('>')} ${o.kind}`;
        seen[key] ??= {};
        seen[key][o.reply] = (seen[key][o.reply] ?? 0) + 1;
        if (!allowed.has(o.reply)) wrong.push(`${o.kind} in ${span.join('>')}: ${o.reply} ${o.text}`);
        if (o.kind === 'clean' && o.reply.startsWith('5')) wrong.push(`clean mail refused with ${o.reply} ${o.text}`);
        if (o.end - o.start > 6000) wrong.push(`${o.kind} in ${span.join('>')} took ${o.end - o.start} ms`);
      }
      const summary = JSON.stringify({ recovery, fdsBefore, fdsAfter, seen }, null, 1);
      assert.deepEqual(failures, [], summary);
      assert.deepEqual(wrong.slice(0, 20), [], summary);
      for (const p of ['clamd-down', 'redis-down', 'dns-down', 'dns-slow'] as const) {
        assert.ok(Object.keys(seen).some((k) => k.startsWith(`${p} `)), `no transaction ran wholly in ${p}\n${summary}`);
      }
      assert.ok(gw.child.exitCode === null && gw.child.signalCode === null, 'the gateway is still running');

      // Every 250 reached the smarthost.
      const accepted = outcomes.filter((o) => o.reply === '250');
      const deadline = Date.now() + 20_000;
      let missing: string[] = [];
      for (;;) {
        const got = new Set(sink.messages.map((m) => m.raw.toString('latin1').match(/^Subject: (dep-load-\d+)/m)?.[1]));
        missing = accepted.filter((o) => !got.has(o.marker)).map((o) => o.marker);
        if (!missing.length || Date.now() > deadline) break;
        await sleep(200);
      }
      assert.deepEqual(missing, [], `acknowledged with 250 but never relayed (${accepted.length} accepted)`);

      // No descriptors left behind by the outages (sockets to clamd, Redis, DNS).
      assert.ok(fdsAfter <= fdsBefore + 5, `open files grew from ${fdsBefore} to ${fdsAfter}\n${summary}`);

      // The log says why for each fail-safe reply.
      const lines = gw.output.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      const cidOf = new Map<string, unknown>();
      for (const l of lines) if (l.msg === 'message' && typeof l.from === 'string') cidOf.set(l.from, l.cid);
      const reasons: Record<string, string> = {
        '451 4.7.0': 'virus scan failed',
        '451 4.4.3': 'lookup failed',
      };
      const unexplained: string[] = [];
      for (const o of outcomes) {
        const why = reasons[o.reply] ?? (o.kind === 'grey' && o.reply === '250' ? 'greylist state store failed' : undefined);
        if (!why) continue;
        const cid = cidOf.get(o.sender);
        if (cid === undefined) { unexplained.push(`${o.sender} ${o.reply}: no message line`); continue; }
        if (!lines.some((l) => l.cid === cid && l.level === 'warn' && String(l.msg).includes(why))) unexplained.push(`${o.sender} ${o.reply}: no "${why}"`);
      }
      assert.deepEqual(unexplained.slice(0, 10), [], `fail-safe replies without their reason in the log`);
    } finally {
      running = false;
      paused = false;
      await Promise.all(clients);
    }
  });

  it('does not refuse a clean message for good when one clamd connection is reset mid-stream and clamd still answers', async () => {
    // A TCP balancer in front of a clamd pool: the backend scanning this message dies and its connection is reset,
    // while PING (a new connection) reaches a live clamd. That is a temporary fault, not clamd's StreamMaxLength.
    const scanner = await startClamd();
    const relay = await startSmarthost();
    let resets = 1;
    const balancer = net.createServer((client) => {
      const up = net.createConnection({ host: scanner.host, port: scanner.port });
      let seen = 0;
      let instream: boolean | undefined;
      client.on('data', (d) => {
        instream ??= d.subarray(0, 9).toString() === 'zINSTREAM';
        seen += d.length;
        if (instream && resets > 0 && seen > 300_000) { resets--; client.resetAndDestroy(); up.destroy(); return; }
        up.write(d);
      });
      up.on('data', (d) => client.write(d));
      up.on('end', () => client.end());
      client.on('error', () => up.destroy());
      up.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => balancer.listen(0, '127.0.0.1', () => r()));
    const port = (balancer.address() as net.AddressInfo).port;
    const gateway = await startGateway({ config: { smarthost: `smtp://127.0.0.1:${relay.port}`, plugins: [{ name: 'clamav', host: '127.0.0.1', port }] } });
    try {
      const d = await SmtpDialog.connect(gateway.port);
      await d.hello();
      assert.equal((await d.cmd('MAIL FROM:<a@example.org>')).code, 250);
      assert.equal((await d.cmd('RCPT TO:<user@example.com>')).code, 250);
      const r = await d.data(`Subject: big clean reset\r\n\r\n${`${'x'.repeat(76)}\r\n`.repeat(40_000)}`);
      await d.quit();
      assert.equal(resets, 0, 'the balancer reset a scan');
      assert.equal(r.code, 250, `a clean 3 MB message (clamd's StreamMaxLength is 10 MB) got ${r.code} ${r.text}`);
      await relay.waitForText('big clean reset');
    } finally {
      await gateway.stop();
      await new Promise((r) => balancer.close(r));
      await relay.stop();
      await scanner.close();
    }
  });
});
