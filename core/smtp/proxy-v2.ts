// The PROXY protocol's version 2, the binary header (HAProxy's proxy-protocol.txt §2.2), which HAProxy's
// send-proxy-v2, its health checks and AWS's Network Load Balancer send:
//   12-byte signature | version (high 4 bits, 2) and command (low 4 bits: 0 LOCAL, 1 PROXY)
//   | family (high 4 bits: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX) and transport (low 4 bits: 0 UNSPEC, 1 STREAM, 2 DGRAM)
//   | length of what follows (16 bits, network order) | addresses | TLVs up to that length.
// What is taken: LOCAL (the proxy's own connection, a health check) and PROXY over UNSPEC keep the socket's own
// address, as v1's UNKNOWN; PROXY over INET or INET6 with STREAM names the client. AF_UNIX is refused: a client on
// a Unix socket has no address for a blocklist, SPF or the connection limits to judge, and taking the proxy's own
// address for it would hand that client the exemptions of a trusted proxy. DGRAM is refused, as SMTP runs over TCP.
// TLVs (AWS's endpoint id, HAProxy's SSL and unique-id ones) are stepped over, each checked to end within the length.
import { formatIpv6, mappedIpv4 } from '../net/ipv6-text.ts';
import type { ProxyRead } from './proxy-header.ts';

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The fixed part: the signature, version and command, family and transport, length. */
export const V2_FIXED_BYTES = 16;
/** The largest header the 16-bit length allows; no lower cap, as the length is read before anything past it. */
export const V2_MAX_BYTES = V2_FIXED_BYTES + 0xffff;

const LOCAL = 0x0;
const PROXY = 0x1;
const UNSPEC = 0x0;
const INET = 0x1;
const INET6 = 0x2;
const UNIX = 0x3;
const STREAM = 0x1;
const DGRAM = 0x2;
/** The address block's size for INET and INET6: both addresses, then both ports. */
const ADDRESS_BYTES: Record<number, number> = { [INET]: 12, [INET6]: 36 };

/**
 * Reads a v2 header from the start of `buf` (which begins with as much of the signature as has come): the header, a
 * refusal as soon as a byte shows one, or how many bytes to wait for.
 */
export function readProxyV2(buf: Buffer): ProxyRead {
  if (buf.length > 12) {
    const version = buf[12] >> 4;
    const command = buf[12] & 0x0f;
    if (version !== 2) return { state: 'bad', reason: `version ${version} in a v2 signature` };
    if (command !== LOCAL && command !== PROXY) return { state: 'bad', reason: `unknown command ${command}` };
    if (buf.length > 13 && command === PROXY) {
      const problem = familyProblem(buf[13] >> 4, buf[13] & 0x0f);
      if (problem) return { state: 'bad', reason: problem };
    }
  }
  if (buf.length < V2_FIXED_BYTES) return { state: 'more', need: V2_FIXED_BYTES };
  const length = V2_FIXED_BYTES + buf.readUInt16BE(14);
  if (buf.length < length) return { state: 'more', need: length };
  // LOCAL: the receiver uses the connection's own endpoints and skips the rest, whatever the family says.
  const family = buf[13] >> 4;
  if ((buf[12] & 0x0f) === LOCAL || family === UNSPEC) return { state: 'done', header: { version: 2, length } };
  const body = buf.subarray(V2_FIXED_BYTES, length);
  const addressBytes = ADDRESS_BYTES[family];
  if (body.length < addressBytes) return { state: 'bad', reason: `length ${body.length} is too short for the ${family === INET ? 'IPv4' : 'IPv6'} addresses (${addressBytes} bytes)` };
  const tlvProblem = tlvsProblem(body.subarray(addressBytes));
  if (tlvProblem) return { state: 'bad', reason: tlvProblem };
  const ip = (at: number) => (family === INET ? [...body.subarray(at, at + 4)].join('.') : ipv6Text(body.subarray(at, at + 16)));
  const half = family === INET ? 4 : 16;
  return {
    state: 'done',
    header: { version: 2, length, client: { ip: ip(0), port: body.readUInt16BE(2 * half), localIp: ip(half), localPort: body.readUInt16BE(2 * half + 2) } },
  };
}

/** Why a PROXY command's family and transport are not taken, or undefined. */
function familyProblem(family: number, transport: number): string | undefined {
  if (family === UNSPEC) return undefined;
  if (family === UNIX) return 'AF_UNIX names no client address the checks could judge';
  if (family !== INET && family !== INET6) return `unknown address family ${family}`;
  if (transport === DGRAM) return 'DGRAM: SMTP runs over a stream';
  if (transport !== STREAM) return `transport ${transport} is not STREAM`;
  return undefined;
}

/** Whether the TLVs after the addresses each end within the header: a type byte, a 16-bit length, the value. */
function tlvsProblem(tlvs: Buffer): string | undefined {
  let at = 0;
  while (at < tlvs.length) {
    if (tlvs.length - at < 3) return 'a TLV is cut off by the header\'s length';
    at += 3 + tlvs.readUInt16BE(at + 1);
    if (at > tlvs.length) return 'a TLV runs past the header\'s length';
  }
  return undefined;
}

/** 16 bytes of an IPv6 address in the core's form (core/net/cidr.ts): an IPv4-mapped one as the IPv4 address it is. */
function ipv6Text(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  return mappedIpv4(groups) ?? formatIpv6(groups);
}
