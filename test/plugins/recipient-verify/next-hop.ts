// The server behind the gateway for these tests: a real smtp-server that refuses or holds chosen recipients, and a
// loopback tap in front of it that records every line the prober sends, so the tests see exactly what a probe says.
import net from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface NextHop {
  /** smtp-server itself: the gateway's smarthost (deliveries). */
  port: number;
  /** The tap in front of it: the plugin's `target` (probes). */
  probePort: number;
  /** Reply code per lower-cased recipient instead of 250. */
  refuse: Map<string, number>;
  /** Every line clients of the tap sent, one array per connection. */
  probeSessions: string[][];
  /** RCPT TO lines that came through the tap. */
  probeRcpts(): string[];
  /** Messages delivered over the direct port, by envelope. */
  delivered: Array<{ from: string; to: string[] }>;
  /** The RCPT answer for `address` waits until `release(address)`. */
  hold(address: string): void;
  release(address: string): void;
  /** Resolves once `n` RCPTs for `address` reached the server (held or not). */
  rcptSeen(address: string, n?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startNextHop(): Promise<NextHop> {
  const refuse = new Map<string, number>();
  const held = new Map<string, Array<() => void>>();
  const holding = new Set<string>();
  const seen = new Map<string, number>();
  const seenWaiters: Array<() => void> = [];
  const delivered: NextHop['delivered'] = [];

  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], disableReverseLookup: true, logger: false,
    onRcptTo(addr, _session, cb) {
      const a = addr.address.toLowerCase();
      seen.set(a, (seen.get(a) ?? 0) + 1);
      for (const w of seenWaiters.splice(0)) w();
      const answer = () => {
        const code = refuse.get(a);
        if (!code) return cb();
        const e = new Error(`${code >= 500 ? '5.1.1' : '4.2.1'} <${addr.address}>: no such user here`) as Error & { responseCode: number };
        e.responseCode = code;
        cb(e);
      };
      if (holding.has(a)) held.set(a, [...(held.get(a) ?? []), answer]);
      else answer();
    },
    onData(stream, session, cb) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        delivered.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address) });
        cb();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server as unknown as { server: net.Server }).server.address() as net.AddressInfo;

  const probeSessions: string[][] = [];
  const sockets = new Set<net.Socket>();
  const tap = net.createServer((client) => {
    const lines: string[] = [];
    probeSessions.push(lines);
    let partial = '';
    const upstream = net.connect(port.port, '127.0.0.1');
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => undefined); }
    client.on('data', (d: Buffer) => {
      partial += d.toString('latin1');
      const parts = partial.split('\r\n');
      partial = parts.pop()!;
      lines.push(...parts);
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', () => resolve()));

  return {
    port: port.port,
    probePort: (tap.address() as net.AddressInfo).port,
    refuse, probeSessions, delivered,
    probeRcpts: () => probeSessions.flat().filter((l) => /^RCPT TO:/i.test(l)),
    hold: (address) => { holding.add(address.toLowerCase()); },
    release: (address) => {
      const a = address.toLowerCase();
      holding.delete(a);
      for (const answer of held.get(a) ?? []) answer();
      held.delete(a);
    },
    async rcptSeen(address, n = 1) {
      const a = address.toLowerCase();
      while ((seen.get(a) ?? 0) < n) await new Promise<void>((r) => seenWaiters.push(r));
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => tap.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
