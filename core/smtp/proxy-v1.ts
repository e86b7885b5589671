// The PROXY protocol's version 1, the text line (HAProxy's proxy-protocol.txt §2.1):
// `PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>\r\n`, or `PROXY UNKNOWN …\r\n` for a
// connection the proxy cannot describe. At most 107 bytes with its CRLF; the spec's own words, upper case, single
// spaces and CRLF, are required, as a lenient reader is one a client could feed something else through.
import net from 'node:net';
import type { ProxyRead } from './proxy-header.ts';

/** The spec's bound: the longest line a sender may write, CRLF included. */
export const V1_MAX_BYTES = 107;
export const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');

const CR = 0x0d;
const LF = 0x0a;

/** Why a PROXY v1 line (without its CRLF) cannot be taken, or undefined. */
export function proxyHeaderProblem(line: string): string | undefined {
  const [word, family, src, dst, sport, dport, ...extra] = line.split(' ');
  if (word !== 'PROXY') return 'the line does not start with PROXY';
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

/** Reads a v1 header from the start of `buf` (which begins with `PROXY `): the header, a refusal, or more to wait for. */
export function readProxyV1(buf: Buffer): ProxyRead {
  const end = Math.min(buf.length, V1_MAX_BYTES);
  for (let i = 0; i < end; i++) {
    const b = buf[i];
    if (b === LF) return i > 0 && buf[i - 1] === CR ? lineRead(buf.subarray(0, i - 1).toString('latin1'), i + 1) : { state: 'bad', reason: 'the line ends in a bare LF, not CRLF' };
    // A CR is only the line's end; anything else outside printable ASCII is no part of a header, and refused at
    // once rather than after waiting for a line end that a stray binary stream may never bring.
    if (b === CR ? i + 1 < buf.length && buf[i + 1] !== LF : b < 0x20 || b > 0x7e) return { state: 'bad', reason: 'the line holds a byte that is not printable ASCII' };
  }
  if (buf.length >= V1_MAX_BYTES) return { state: 'bad', reason: `no CRLF within ${V1_MAX_BYTES} bytes` };
  return { state: 'more', need: buf.length + 1 };
}

function lineRead(line: string, length: number): ProxyRead {
  const problem = proxyHeaderProblem(line);
  if (problem) return { state: 'bad', reason: problem };
  const [, family, src, dst, sport, dport] = line.split(' ');
  if (family === 'UNKNOWN') return { state: 'done', header: { version: 1, length } };
  return { state: 'done', header: { version: 1, length, client: { ip: src, port: Number(sport), localIp: dst, localPort: Number(dport) } } };
}
