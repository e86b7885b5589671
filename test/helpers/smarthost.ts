// A real SMTP listener standing in for the smarthost: records every message it accepts, and can be told to fail.
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

export interface ReceivedMessage { mailFrom: string; rcptTo: string[]; raw: Buffer; at: number }

export interface Smarthost {
  port: number;
  messages: ReceivedMessage[];
  /** Reply code per recipient address (e.g. 550 or 451) instead of accepting it. */
  rcptReplies: Map<string, number>;
  /** When set, every DATA gets this code. */
  dataReply?: number;
  waitFor(count: number, timeoutMs?: number): Promise<ReceivedMessage[]>;
  /** The first received message whose raw text contains `marker` (waits up to `timeoutMs`). */
  waitForText(marker: string, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** `hide`: extensions left out of the EHLO reply, for a next hop that lacks them (a relay must then not use them). */
export async function startSmarthost(opts: { port?: number; tls?: { key: Buffer; cert: Buffer }; auth?: { user: string; pass: string }; hide?: Array<'SMTPUTF8' | '8BITMIME'> } = {}): Promise<Smarthost> {
  const messages: ReceivedMessage[] = [];
  const rcptReplies = new Map<string, number>();
  const waiters: Array<() => void> = [];
  const state: { dataReply?: number } = {};
  const options: SMTPServerOptions = {
    // Not the machine's name, smtp-server's default: a gateway without server.hostname greets with that, and would
    // take this sink for itself (a mail loop).
    name: 'smarthost.test',
    authOptional: !opts.auth,
    disabledCommands: opts.tls ? [] : ['STARTTLS', ...(opts.auth ? [] : ['AUTH'])],
    ...(opts.tls ? { key: opts.tls.key, cert: opts.tls.cert } : {}),
    allowInsecureAuth: true,
    hideSMTPUTF8: opts.hide?.includes('SMTPUTF8'),
    hide8BITMIME: opts.hide?.includes('8BITMIME'),
    disableReverseLookup: true,
    logger: false,
    size: 200 * 1024 * 1024,
    onAuth(auth, _s, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) cb(null, { user: auth.username });
      else cb(new Error('Invalid credentials'));
    },
    onRcptTo(addr, _s, cb) {
      const code = rcptReplies.get(addr.address);
      if (code) { const e = new Error(`${code >= 500 ? '5' : '4'}.1.1 recipient refused by test smarthost`) as Error & { responseCode: number }; e.responseCode = code; return cb(e); }
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        if (state.dataReply) { const e = new Error('4.3.0 test smarthost refuses DATA') as Error & { responseCode: number }; e.responseCode = state.dataReply; return cb(e); }
        messages.push({
          mailFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          rcptTo: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks), at: Date.now(),
        });
        cb();
        for (const w of waiters.splice(0)) w();
      });
    },
  };
  const server = new SMTPServer(options);
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(opts.port ?? 0, '127.0.0.1', () => { server.removeListener('error', reject); resolve(); }); });
  // smtp-server reports a client's connection reset (a gateway killed mid-delivery) as a server error; it is expected here.
  server.on('error', () => undefined);
  const port = (server as unknown as { server: { address(): { port: number } } }).server.address().port;
  const host: Smarthost = {
    port, messages, rcptReplies,
    get dataReply() { return state.dataReply; },
    set dataReply(v) { state.dataReply = v; },
    async waitFor(count, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        if (Date.now() > deadline) throw new Error(`smarthost got ${messages.length} of ${count} messages in ${timeoutMs} ms`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 200); });
      }
      return messages;
    },
    async waitForText(marker, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = messages.find((m) => m.raw.toString('latin1').includes(marker));
        if (hit) return hit.raw.toString('latin1');
        if (Date.now() > deadline) throw new Error(`no relayed message contains ${marker}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
  return host;
}
