// The client address every connection of a listener starts with, taken from its raw value: the socket's peer, or the
// source a PROXY v1 header names. smtp-server strips a leading `::ffff:` from it and keeps the rest, so the hex form of
// an IPv4-mapped address (`::ffff:c000:281`) became `c000:281`, which no deny list, blocklist or SPF check could read:
// the client got round all of them. Here the address is put in the core's own form first (core/net/cidr.ts), and a
// header that HAProxy's spec says to refuse (a family its addresses do not belong to) is refused.
import net from 'node:net';
import type { Socket } from 'node:net';
import { normalizeIp } from '../net/cidr.ts';

type SocketOptions = { remoteAddress?: string; remotePort?: number; [k: string]: unknown };
type Done = (err: Error | null, options?: SocketOptions) => void;
type HandleProxy = (socket: Socket, done: Done) => void;

/** Why a PROXY v1 header cannot be taken (HAProxy's proxy-protocol.txt §2.1), or undefined. */
export function proxyHeaderProblem(line: string): string | undefined {
  const [, family, src, dst, sport, dport, ...extra] = line.trim().split(' ');
  // UNKNOWN: the receiver ignores whatever follows and takes the connection's own addresses.
  if (family === 'UNKNOWN') return undefined;
  if (family !== 'TCP4' && family !== 'TCP6') return `unknown protocol family ${JSON.stringify(family ?? '')}`;
  const isFamily = family === 'TCP4' ? net.isIPv4 : net.isIPv6;
  if (!src || !isFamily(src)) return `source address is not ${family === 'TCP4' ? 'IPv4' : 'IPv6'} as ${family} says`;
  if (!dst || !isFamily(dst)) return `destination address is not ${family === 'TCP4' ? 'IPv4' : 'IPv6'} as ${family} says`;
  const port = (p: string | undefined) => !!p && /^(0|[1-9]\d{0,4})$/.test(p) && Number(p) <= 65535;
  if (!port(sport) || !port(dport) || extra.length) return 'ports are not two numbers from 0 to 65535 at the end';
  return undefined;
}

/**
 * Wraps a listener's PROXY header reading: the header is checked, `PROXY UNKNOWN` keeps the socket's own address
 * (smtp-server took the first word after it), and every connection's client address is given in the core's form,
 * so that smtp-server's own normalising leaves it alone. `refused` hears each header refused and why.
 */
export function normaliseClientAddresses(server: object, refused: (peer: string, reason: string) => void): void {
  const s = server as { _handleProxy: HandleProxy };
  const read = s._handleProxy.bind(server);
  s._handleProxy = (socket, done) => {
    // smtp-server reads the header off the socket itself; what it read is kept to find the header line again.
    const chunks: Buffer[] = [];
    const ownRead = socket.read;
    socket.read = function (this: Socket, ...args: Parameters<Socket['read']>) {
      const chunk = ownRead.apply(this, args);
      if (Buffer.isBuffer(chunk)) chunks.push(chunk);
      return chunk;
    };
    read(socket, (err, options) => {
      if (socket.read !== ownRead) delete (socket as { read?: unknown }).read;
      const peer = normalizeIp(socket.remoteAddress ?? '');
      if (err || !options) {
        // A client that hung up before its header is no refusal; a header smtp-server refused (garbage, a source
        // that is no address) is.
        if (err && /PROXY/.test(err.message) && !/^Socket /.test(err.message)) refused(peer, err.message);
        return done(err, options);
      }
      const all = Buffer.concat(chunks);
      const end = all.indexOf(0x0a);
      const line = end >= 0 ? all.subarray(0, end).toString('latin1') : undefined;
      if (line !== undefined) {
        const problem = proxyHeaderProblem(line);
        if (problem) return refuse(socket, peer, problem, refused, done);
        if (line.trim().split(' ')[1] === 'UNKNOWN') { delete options.remoteAddress; delete options.remotePort; }
      }
      const client = normalizeIp(options.remoteAddress ?? socket.remoteAddress ?? '');
      if (net.isIP(client)) options.remoteAddress = client;
      // Not reached past smtp-server's own check (it takes only an address), and refused rather than let through
      // unjudged: a check that cannot read the client's address skips it. A socket without one has gone already.
      else if (line !== undefined) return refuse(socket, peer, 'the client address is not an IP address', refused, done);
      done(null, options);
    });
  };
}

/** As smtp-server refuses a header it cannot read: a `* BAD` line, then the socket closes and no session starts. */
function refuse(socket: Socket, peer: string, reason: string, refused: (peer: string, reason: string) => void, done: Done): void {
  refused(peer, reason);
  socket.on('error', () => { /* the client may be gone already */ });
  try { socket.end('* BAD Invalid PROXY header\r\n'); } catch { /* closed */ }
  setTimeout(() => socket.destroy(), 1000).unref();
  done(new Error(`Invalid PROXY header: ${reason}`));
}
