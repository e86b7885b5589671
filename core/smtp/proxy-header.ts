// A PROXY protocol header, v1 or v2, told apart by its first bytes (`PROXY ` or v2's 12-byte signature), as a
// listener with server.proxy_protocol takes either from a trusted proxy. The reading of each is in proxy-v1.ts and
// proxy-v2.ts; the socket side (the deadline, the log) in proxy-reader.ts.
import { readProxyV1, V1_SIGNATURE } from './proxy-v1.ts';
import { readProxyV2, V2_SIGNATURE } from './proxy-v2.ts';

/** The client a header names, with the address it connected to (the proxy's own listener). */
export interface ProxiedClient { ip: string; port: number; localIp: string; localPort: number }

/**
 * A header read whole. `client` is absent when the connection is the proxy's own (v1 UNKNOWN, v2 LOCAL or an UNSPEC
 * family): the session then keeps the socket's own address.
 */
export interface ProxyHeader { version: 1 | 2; length: number; client?: ProxiedClient }

/** What the bytes so far make: a header, a refusal and why, or at least `need` bytes to wait for. */
export type ProxyRead =
  | { state: 'done'; header: ProxyHeader }
  | { state: 'bad'; reason: string }
  | { state: 'more'; need: number };

/** Reads a PROXY header, v1 or v2, from the start of `buf`. */
export function readProxyHeader(buf: Buffer): ProxyRead {
  if (startsLike(buf, V2_SIGNATURE)) return readProxyV2(buf);
  if (startsLike(buf, V1_SIGNATURE)) return readProxyV1(buf);
  return { state: 'bad', reason: 'not a PROXY header: neither "PROXY " (v1) nor the v2 signature' };
}

/** Whether `buf` is `signature` so far (a prefix of it while short, or starts with it). */
function startsLike(buf: Buffer, signature: Buffer): boolean {
  const n = Math.min(buf.length, signature.length);
  return buf.subarray(0, n).equals(signature.subarray(0, n));
}

/** The first bytes of what a peer sent, for a log line: printable ASCII as it is, any other byte as \xNN. */
export function excerpt(buf: Buffer, max = 24): string {
  let out = '';
  for (const b of buf.subarray(0, max)) out += b >= 0x20 && b <= 0x7e && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return buf.length > max ? `${out}…` : out;
}
