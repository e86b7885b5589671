// A listener address as the config writes it: host:port, an IPv6 host in brackets ([::1]:2525).

export function splitHostPort(hp: string): { host: string; port: number } {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(hp);
  if (!m) throw new Error(`not host:port: ${hp}`);
  return { host: m[1], port: Number(m[2]) };
}
