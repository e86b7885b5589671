// A loopback port in front of a next hop: counts the connections the gateway makes to it and, while held, parks
// each one unanswered until release(), so a delivery attempt can start before a test changes the world (fills the
// disk) and get its answers after.
import net from 'node:net';

export interface HopProxy {
  port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Lets parked connections and every later one through. */
  release(): void;
  close(): Promise<void>;
}

export async function startHopProxy(target: number, opts: { held?: boolean } = {}): Promise<HopProxy> {
  let held = opts.held ?? false;
  const parked: Array<() => void> = [];
  const open = new Set<net.Socket>();
  const track = (s: net.Socket) => { open.add(s); s.on('close', () => open.delete(s)); s.on('error', () => undefined); };
  const server = net.createServer((inbound) => {
    proxy.connections++;
    track(inbound);
    inbound.pause();
    const join = () => {
      const outbound = net.connect(target, '127.0.0.1', () => { inbound.pipe(outbound).pipe(inbound); inbound.resume(); });
      track(outbound);
      outbound.on('close', () => inbound.destroy());
      inbound.on('close', () => outbound.destroy());
    };
    if (held) parked.push(join); else join();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const proxy: HopProxy = {
    port: (server.address() as net.AddressInfo).port,
    connections: 0,
    release() { held = false; for (const join of parked.splice(0)) join(); },
    async close() {
      for (const s of open) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
  return proxy;
}
