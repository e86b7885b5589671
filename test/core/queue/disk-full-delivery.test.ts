// Delivered while the disk is full: the data_dir on a small tmpfs, messages journaled, the disk filled, then
// delivered to a real smarthost; a stop (SIGTERM) or a kill (SIGKILL), space freed, a restart: each message reaches
// the smarthost once. The journal's done marks overwrite space reserved when the message was appended.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { fillDisk } from './fill-disk.ts';
import { sendMail, sleep, until } from './send.ts';

/** A loopback port in front of the smarthost that holds every connection, unanswered, until `open()`. */
class Gate {
  port = 0;
  private readonly target: number;
  private opened = false;
  private readonly waiting: net.Socket[] = [];
  private readonly sockets = new Set<net.Socket>();
  private server?: net.Server;
  constructor(target: number) { this.target = target; }

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      this.sockets.add(client);
      client.on('error', () => undefined);
      client.on('close', () => this.sockets.delete(client));
      if (this.opened) this.pipe(client); else { client.pause(); this.waiting.push(client); }
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  open(): void {
    this.opened = true;
    for (const c of this.waiting.splice(0)) this.pipe(c);
  }

  private pipe(client: net.Socket): void {
    const upstream = net.connect(this.target, '127.0.0.1');
    this.sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => { client.destroy(); this.sockets.delete(upstream); });
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server ? this.server.close(r) : r(undefined));
  }
}

const N = 32;
const subjectOf = (raw: Buffer) => /^Subject: (.*)$/m.exec(raw.toString('latin1'))?.[1] ?? '?';
const deliveredLines = (gw: SpawnedGateway) => gw.output.join('').split('\n').filter((l) => l.includes('"msg":"delivered"')).length;
const warnings = (gw: SpawnedGateway) => gw.output.join('').split('\n').filter((l) => l.includes('"level":"warn"'));

describe('queue: messages delivered while the disk is full', function () {
  this.timeout(60_000);
  let mnt = '';
  let mounted = false;
  let sink: Smarthost | undefined;
  let gate: Gate | undefined;
  const gateways: SpawnedGateway[] = [];

  before(function () {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs and must run as root');
    mnt = mkdtempSync(path.join(os.tmpdir(), 'mm-full-delivery-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mnt]);
    mounted = true;
  });
  afterEach(async () => {
    for (const gw of gateways.splice(0)) await gw.kill('SIGKILL');
    await gate?.stop(); gate = undefined;
    await sink?.stop(); sink = undefined;
    // The fill and the data dirs, so the next test starts on an empty disk whatever this one did.
    for (const name of readdirSync(mnt)) rmSync(path.join(mnt, name), { recursive: true, force: true });
  });
  after(() => {
    // A mount that failed leaves an empty dir, still removed.
    if (mounted) execFileSync('umount', ['-l', mnt]);
    if (mnt) rmdirSync(mnt);
  });

  async function deliverOnFullDiskThen(stop: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const dataDir = mkdtempSync(path.join(mnt, 'data-'));
    sink = await startSmarthost();
    gate = new Gate(sink.port);
    await gate.start();
    const config = { smarthost: `smtp://127.0.0.1:${gate.port}`, log: { level: 'info' } };
    const first = await spawnGateway({ dataDir, config });
    gateways.push(first);
    const sent: string[] = [];
    for (let i = 0; i < N; i++) {
      const r = await sendMail(first.port, { from: 'a@client.example', to: ['u@example.com'], subject: `m${i}`, body: 'y'.repeat(1500) });
      assert.equal(r.code, 250, r.text);
      sent.push(`m${i}`);
    }
    const filler = path.join(mnt, 'filler');
    assert.ok(fillDisk(filler, { lastBlock: true }) > 0);
    assert.equal(fillDisk(path.join(mnt, 'more'), { lastBlock: true }), 0, 'the disk is full');

    gate.open();
    await sink.waitFor(N, 20_000);
    await until(() => deliveredLines(first) === N, 10_000, `${N} delivered lines`);
    await first.kill(stop);
    for (const name of readdirSync(mnt)) if (/^(filler|more)/.test(name)) rmSync(path.join(mnt, name));

    const second = await spawnGateway({ dataDir, config, port: first.port });
    gateways.push(second);
    // A new message after the restart: anything recovered as not delivered is due before it.
    const after = await sendMail(second.port, { from: 'a@client.example', to: ['u@example.com'], subject: 'after restart', body: 'z' });
    assert.equal(after.code, 250, after.text);
    await sink.waitFor(N + 1, 20_000);
    await sleep(1500);
    const got = sink.messages.map((m) => subjectOf(m.raw)).sort();
    assert.deepEqual(got, [...sent, 'after restart'].sort(), 'each message reached the smarthost once');
    // Nothing was at stake, so nothing is warned about.
    assert.deepEqual([...warnings(first), ...warnings(second)].filter((l) => /journal|done/.test(l)), []);
  }

  it('a clean stop (SIGTERM) after the deliveries: none is delivered again after the restart', async () => {
    await deliverOnFullDiskThen('SIGTERM');
  });

  it('a kill (SIGKILL) after the deliveries: their marks were written to reserved space, none is delivered again', async () => {
    await deliverOnFullDiskThen('SIGKILL');
  });
});
