// The name an address is looked up under in a DNS list (RFC 5782 §2.1 and §2.4), for client and link blocklists alike.
import net from 'node:net';

/** Reversed octets (IPv4) or reversed nibbles of the full address (IPv6); undefined when `ip` is not an address. */
export function reversedIp(ip: string): string | undefined {
  const kind = net.isIP(ip);
  if (kind === 4) return ip.split('.').reverse().join('.');
  if (kind !== 6) return undefined;
  const halves = ip.toLowerCase().split('::');
  const left = halves[0] ? halves[0].split(':') : [];
  const right = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  // An embedded IPv4 tail (`64:ff9b::192.0.2.1`) stands for two groups.
  const expand = (gs: string[]) => gs.flatMap((g) => (g.includes('.') ? v4Groups(g) : [g]));
  const head = expand(left);
  const tail = expand(right);
  const all = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  return all.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.');
}

function v4Groups(v4: string): string[] {
  const b = v4.split('.').map(Number);
  return [((b[0] << 8) | b[1]).toString(16), ((b[2] << 8) | b[3]).toString(16)];
}
