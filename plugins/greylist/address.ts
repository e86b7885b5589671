// Reduces a client IP to its network and an envelope sender to its stable form, the parts of the greylist triplet.
import net from 'node:net';
import { normalizeIp } from '../../core/index.ts';

function maskIpv4(ip: string, bits: number): string {
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const masked = bits === 0 ? 0 : (n - (n % 2 ** (32 - bits)));
  const octets = [24, 16, 8, 0].map((sh) => Math.floor(masked / 2 ** sh) % 256);
  return `${octets.join('.')}/${bits}`;
}

/** The eight 16-bit groups of an IPv6 address (the URL parser canonicalises embedded IPv4 and zero runs). */
function ipv6Groups(ip: string): number[] {
  const host = new URL(`http://[${ip}]`).hostname.slice(1, -1);
  const [head, tail] = host.includes('::') ? host.split('::') : [host, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16));
}

function maskIpv6(ip: string, bits: number): string {
  const groups = ipv6Groups(ip).map((g, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    return keep === 16 ? g : keep === 0 ? 0 : g & (0xffff << (16 - keep)) & 0xffff;
  });
  const canonical = new URL(`http://[${groups.map((g) => g.toString(16)).join(':')}]`).hostname.slice(1, -1);
  return `${canonical}/${bits}`;
}

/** The client's network as `addr/bits`, e.g. `192.0.2.0/24` or `2001:db8:1:2::/64`; a non-IP is returned as is. */
export function clientNetwork(ip: string, ipv4Bits: number, ipv6Bits: number): string {
  const a = normalizeIp(ip);
  if (net.isIPv4(a)) return maskIpv4(a, ipv4Bits);
  if (net.isIPv6(a)) return maskIpv6(a.replace(/%.*$/, ''), ipv6Bits);
  return a;
}

// SRS0=HHH=TT=orig-domain=orig-local and SRS1=HHH=first-forwarder==HHH=TT=orig-domain=orig-local.
const SRS0 = /^srs0[=+-][^=]*=[^=]*=([^=]+)=(.+)$/;
const SRS1 = /^srs1[=+-][^=]*=[^=]+=[=+-][^=]*=[^=]*=([^=]+)=(.+)$/;
// BATV: prvs=TAG=local (RFC draft and most senders), btv1==TAG==local, and Microsoft's msprvs1=TAG=local.
const BATV = /^(?:prvs|msprvs1)=[^=]+=(.+)$|^btv1==[^=]+==(.+)$/;
// A number standing alone in the local part (`bounces-12345-user=example.com@list`): mailing lists' VERP counters
// change with every message, so Postgrey replaces them with `#` and so do we.
const VERP_NUMBER = /(?<![a-z0-9_])\d+(?![a-z0-9_])/g;

export interface SenderOptions {
  stripTags: boolean;
  /** Characters that start an address tag. */
  delimiters: string;
}

/**
 * The sender as greylisting should see it: lower case, `<>` for the null sender, and with `stripTags` the
 * original address behind SRS, without BATV's per-message tag or a `+tag`, and with VERP counters as `#`, so each
 * retry, and each message of a mailing list, gives the same triplet.
 */
export function normaliseSender(address: string, opts: SenderOptions): string {
  if (!address) return '<>';
  const at = address.lastIndexOf('@');
  let local = (at < 0 ? address : address.slice(0, at)).toLowerCase();
  let domain = at < 0 ? '' : address.slice(at + 1).toLowerCase();
  if (opts.stripTags) {
    const srs = SRS0.exec(local) ?? SRS1.exec(local);
    if (srs) { domain = srs[1]; local = srs[2]; }
    const batv = BATV.exec(local);
    if (batv) local = batv[1] ?? batv[2];
    if (opts.delimiters) {
      const cut = [...opts.delimiters].map((d) => local.indexOf(d)).filter((i) => i > 0);
      if (cut.length) local = local.slice(0, Math.min(...cut));
    }
    local = local.replace(VERP_NUMBER, '#');
  }
  return domain ? `${local}@${domain}` : local;
}
