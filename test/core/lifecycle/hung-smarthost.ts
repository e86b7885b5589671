// A next hop that hangs: it greets, takes the envelope and the message, and never answers the final dot, as a
// smarthost whose disk or content filter stalled does. Counts sessions and the messages it was sent whole.
import net from 'node:net';

export interface HungSmarthost {
  port: number;
  /** Sessions opened so far. */
  sessions: number;
  /** Sessions open now. */
  open: number;
  /** Messages whose final dot arrived (and got no answer). */
  hungAtDot: number;
  /** Waits until `n` messages wait for their answer after the final dot. */
  waitHung(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startHungSmarthost(): Promise<HungSmarthost> {
  const sockets = new Set<net.Socket>();
  const state = { sessions: 0, hungAtDot: 0 };
  const server = net.createServer((s) => {
    state.sessions++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let buffer = '';
    let inData = false;
    s.write('220 hung.test ESMTP\r\n');
    s.on('data', (d: Buffer) => {
      buffer += d.toString('latin1');
      let i: number;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (inData) {
          if (line === '.') { inData = false; state.hungAtDot++; }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') s.write('250-hung.test\r\n250 8BITMIME\r\n');
        else if (verb === 'DATA') { inData = true; s.write('354 go ahead\r\n'); }
        else if (verb === 'QUIT') { s.end('221 bye\r\n'); }
        else s.write('250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    get sessions() { return state.sessions; },
    get open() { return sockets.size; },
    get hungAtDot() { return state.hungAtDot; },
    async waitHung(n, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (state.hungAtDot < n) {
        if (Date.now() > deadline) throw new Error(`only ${state.hungAtDot} of ${n} messages reached the final dot`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    stop() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
