// Free loopback ports for services started by tests.
//
// A port is chosen outside the kernel's ephemeral range (below it when there is room): between choosing it and
// binding it (or, for a test of a service that is down, never binding it), a listen(0) or an outgoing connection
// elsewhere in the run can be given any free ephemeral port, including one just handed out here (seen: a
// smarthost port that was meant to refuse connections was taken by the gateway's own listener).
import fs from 'node:fs';
import net from 'node:net';

/** Where to choose ports: below the ephemeral range when there is room there, else above it. */
function choiceRange(): [number, number] {
  let low = 32_768;
  let high = 60_999;
  try {
    [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  } catch { /* not Linux: assume Linux's default range */ }
  if (low > 11_000) return [10_000, low];
  if (high < 64_000) return [high + 1, 65_536];
  return [0, 0]; // no room outside it: listen(0) decides
}

const [FROM, TO] = choiceRange();

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
  for (let i = 0; TO > FROM && i < 50; i++) {
    const port = await tryBind(FROM + Math.floor(Math.random() * (TO - FROM)), host);
    if (port !== undefined) return port;
  }
  const port = await tryBind(0, host);
  if (port === undefined) throw new Error(`no free port on ${host}`);
  return port;
}
