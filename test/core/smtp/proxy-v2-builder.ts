// Builds PROXY protocol v2 headers for tests, right or wrong on purpose, from HAProxy's proxy-protocol.txt §2.2.
import net from 'node:net';

export const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

export interface V2Options {
  command?: 'LOCAL' | 'PROXY' | number;
  /** Address family (high nibble): 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX; by default from `source`. */
  family?: number;
  /** Transport (low nibble): 0 UNSPEC, 1 STREAM, 2 DGRAM. */
  transport?: number;
  version?: number;
  source?: string;
  dest?: string;
  sourcePort?: number;
  destPort?: number;
  /** TLVs after the addresses, each as type and value. */
  tlvs?: Array<{ type: number; value: Buffer }>;
  /** Bytes after the addresses as they are (a broken TLV). */
  trailing?: Buffer;
  /** The length field, when it is to lie. */
  length?: number;
}

/** The bytes of one address: 4 for IPv4, 16 for IPv6 (a dotted IPv4 tail, as in ::ffff:192.0.2.1, allowed). */
function addressBytes(ip: string): Buffer {
  if (net.isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  const text = dotted ? ip.slice(0, dotted.index) + [0, 2].map((i) => ((Number(dotted[i + 1]) << 8) | Number(dotted[i + 2])).toString(16)).join(':') : ip;
  const [head, tail] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

export function proxyV2(o: V2Options = {}): Buffer {
  const command = o.command === 'LOCAL' ? 0 : o.command === 'PROXY' || o.command === undefined ? 1 : o.command;
  const source = o.source ?? '192.0.2.10';
  const family = o.family ?? (net.isIPv6(source) ? 2 : 1);
  const transport = o.transport ?? 1;
  let body = Buffer.alloc(0);
  if (command === 1 && (family === 1 || family === 2)) {
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(o.sourcePort ?? 40_000, 0);
    ports.writeUInt16BE(o.destPort ?? 25, 2);
    body = Buffer.concat([addressBytes(source), addressBytes(o.dest ?? (family === 1 ? '198.51.100.1' : '2001:db8::25')), ports]);
  }
  for (const t of o.tlvs ?? []) {
    const head = Buffer.alloc(3);
    head[0] = t.type;
    head.writeUInt16BE(t.value.length, 1);
    body = Buffer.concat([body, head, t.value]);
  }
  if (o.trailing) body = Buffer.concat([body, o.trailing]);
  const fixed = Buffer.alloc(4);
  fixed[0] = ((o.version ?? 2) << 4) | command;
  fixed[1] = (family << 4) | transport;
  fixed.writeUInt16BE(o.length ?? body.length, 2);
  return Buffer.concat([SIGNATURE, fixed, body]);
}
