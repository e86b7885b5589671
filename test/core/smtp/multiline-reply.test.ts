// End to end on a raw socket: an outcome with several lines of text is answered as a multi-line reply (RFC 5321
// §4.2.1: `550-5.7.1 one`, then `550 5.7.1 two`) at MAIL FROM, RCPT, DATA's end and after a refused connect, not
// squashed onto one line. This file is also the plugin: the gateway imports it by its own URL, the module mocha loaded.
import assert from 'node:assert/strict';
import net from 'node:net';
import { definePlugin, outcome, s, type HookContext } from '../../../core/index.ts';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';

export default definePlugin({
  name: 'multiline-fixture',
  description: 'Test double: refuses with two lines of text where the sender or recipient asks',
  configSchema: s.object({}),
  create: () => ({
    hooks: {
      async connect(ctx: HookContext) {
        if (ctx.session.remote.ip === '192.0.2.9') return outcome.reject(['You are listed', 'See https://bl.example/192.0.2.9']);
      },
      async mailFrom(ctx: HookContext) {
        if (ctx.mailFrom?.local === 'refuse') return outcome.reject(['sender one', 'sender two'], { code: 553, enhanced: '5.7.27' });
      },
      async rcptTo(ctx: HookContext) {
        if (ctx.rcpt?.local === 'refused') return outcome.reject(['line one', 'line two']);
        if (ctx.rcpt?.local === 'later') return outcome.tempfail(['busy', 'try later']);
        if (ctx.rcpt?.local === 'single') return outcome.reject(['only line']);
      },
      async data() { return outcome.reject(['content one', 'content two', 'content three']); },
    },
  }),
});

/** A client that keeps the reply lines exactly as they came off the wire. */
class WireClient {
  private readonly socket: net.Socket;
  private buffer = '';
  private wake?: () => void;
  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => { this.buffer += d.toString('latin1'); this.wake?.(); });
    socket.on('close', () => this.wake?.());
  }
  static connect(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new WireClient(s)));
      s.once('error', reject);
    });
  }
  /** The next whole reply: its lines as sent, without their CRLF. */
  async reply(): Promise<string[]> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const m = /^(?:\d{3}-[^\r\n]*\r\n)*\d{3}(?: [^\r\n]*)?\r\n/.exec(this.buffer);
      if (m) { this.buffer = this.buffer.slice(m[0].length); return m[0].split('\r\n').slice(0, -1); }
      if (Date.now() > deadline || this.socket.destroyed) throw new Error(`no whole reply in ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((r) => { this.wake = r; setTimeout(r, 50); });
    }
  }
  async cmd(line: string): Promise<string[]> { this.socket.write(`${line}\r\n`); return this.reply(); }
  write(data: string): void { this.socket.write(data); }
  end(): void { this.socket.destroy(); }
}

describe('multi-line replies from plugin outcomes', function () {
  this.timeout(60_000);
  let gw: TestGateway;
  before(async () => {
    gw = await startGateway({ config: { plugins: [{ name: 'multiline-fixture', module: import.meta.filename }] } });
  });
  after(() => gw.stop());

  async function greeted(): Promise<WireClient> {
    const c = await WireClient.connect(gw.port);
    assert.match((await c.reply())[0], /^220 /);
    assert.match((await c.cmd('EHLO client.test')).at(-1)!, /^250 /);
    return c;
  }

  it('RCPT: a reject with two lines gives 550-5.7.1 and 550 5.7.1', async () => {
    const c = await greeted();
    assert.deepEqual(await c.cmd('MAIL FROM:<a@client.example>'), ['250 2.1.0 Accepted']);
    assert.deepEqual(await c.cmd('RCPT TO:<refused@example.com>'), ['550-5.7.1 line one', '550 5.7.1 line two']);
    assert.deepEqual(await c.cmd('RCPT TO:<later@example.com>'), ['451-4.7.1 busy', '451 4.7.1 try later']);
    assert.deepEqual(await c.cmd('RCPT TO:<single@example.com>'), ['550 5.7.1 only line']);
    c.end();
  });

  it('MAIL FROM: the outcome\'s own code and enhanced code on every line', async () => {
    const c = await greeted();
    assert.deepEqual(await c.cmd('MAIL FROM:<refuse@client.example>'), ['553-5.7.27 sender one', '553 5.7.27 sender two']);
    c.end();
  });

  it('end of DATA: three lines', async () => {
    const c = await greeted();
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.match((await c.cmd('RCPT TO:<ann@example.com>'))[0], /^250 /);
    assert.match((await c.cmd('DATA'))[0], /^354 /);
    c.write('Subject: x\r\n\r\nbody\r\n.\r\n');
    assert.deepEqual(await c.reply(), ['550-5.7.1 content one', '550-5.7.1 content two', '550 5.7.1 content three']);
    c.end();
  });

  it('a refused connect: the greeting and every later command get both lines', async () => {
    const c = await WireClient.connect(gw.port);
    assert.match((await c.reply())[0], /^220 /);
    await c.cmd('EHLO proxy.test');
    const greeting = await c.cmd('XCLIENT ADDR=192.0.2.9 NAME=[UNAVAILABLE]');
    assert.deepEqual(greeting, ['554-5.7.1 You are listed', '554 5.7.1 See https://bl.example/192.0.2.9']);
    assert.deepEqual(await c.cmd('EHLO client.test'), greeting);
    assert.deepEqual(await c.cmd('MAIL FROM:<a@client.example>'), greeting);
    c.end();
  });
});
