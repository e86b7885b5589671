// IPv6 addresses as their eight 16-bit groups and back, so that every spelling of one address (`0:0:0:0:0:0:0:1`,
// `::1`, `::FFFF:c000:201`, `::ffff:192.0.2.1`) becomes one text, compared and logged alike. Hand-written: it runs on
// every connection.

/** The eight 16-bit groups of an address net.isIPv6 accepted (a trailing dotted IPv4 part included; no zone index). */
export function ipv6Groups(a: string): number[] {
  let text = a;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > 0) {
    const p = text.slice(lastColon + 1).split('.').map(Number);
    tail.push((p[0] << 8) | p[1], (p[2] << 8) | p[3]);
    text = text.slice(0, lastColon + 1) + '0';
  }
  const [head, rest] = text.split('::');
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const front = parse(head);
  const back = parse(rest);
  if (tail.length) back.length ? back.pop() : front.pop();
  const groups = rest === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length - tail.length).fill(0), ...back];
  return [...groups, ...tail];
}

/** RFC 5952's text: lower case, no leading zeros, the longest run of two or more zero groups (the first of equals) as `::`. */
export function formatIpv6(g: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** The IPv4 address an IPv4-mapped one (::ffff:0:0/96, RFC 4291 §2.5.5.2) stands for, else undefined. */
export function mappedIpv4(g: readonly number[]): string | undefined {
  if (g.length !== 8 || g[5] !== 0xffff || g.slice(0, 5).some((x) => x !== 0)) return undefined;
  return [g[6] >> 8, g[6] & 255, g[7] >> 8, g[7] & 255].join('.');
}
