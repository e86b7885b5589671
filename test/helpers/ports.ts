// Free loopback ports for services started by tests.
//
// A port is chosen below the kernel's ephemeral range: between choosing it and binding it (or, for a test of a
// service that is down, never binding it), a listen(0) or an outgoing connection elsewhere in the run can be
// given any free ephemeral port, including one just handed out here (seen: a smarthost port that was meant to
// refuse connections was taken by the gateway's own listener).
import fs from 'node:fs';
import net from 'node:net';

const FLOOR = 10_000;

function ephemeralStart(): number {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && low > FLOOR + 1000) return low;
  } catch { /* not Linux: use the IANA dynamic range's start */ }
  return 49_152;
}

const CEILING = ephemeralStart();

function tryBind(port: number, host: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen(port, host, () => {
      const bound = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(bound));
    });
  });
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = await tryBind(FLOOR + Math.floor(Math.random() * (CEILING - FLOOR)), host);
    if (port !== undefined) return port;
  }
  const port = await tryBind(0, host);
  if (port === undefined) throw new Error(`no free port on ${host}`);
  return port;
}
