// Which TCP ports a process listens on, read from /proc: a test can then tell that a gateway opened nothing it was not
// configured to (Node's inspector, say), whatever else runs on the machine.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The inodes of the sockets process `pid` holds open. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; } // closed since the listing
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) inodes.add(m[1]);
  }
  return inodes;
}

/** TCP state 0A is LISTEN in /proc/net/tcp and tcp6. */
const LISTEN = '0A';

/** The ports, sorted, of the TCP sockets process `pid` listens on (IPv4 and IPv6). */
export function listeningPorts(pid: number): number[] {
  const mine = socketInodes(pid);
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try { text = readFileSync(table, 'latin1'); } catch { continue; } // no IPv6 on this machine
    for (const row of text.split('\n').slice(1)) {
      const cols = row.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== LISTEN || !mine.has(cols[9])) continue;
      ports.add(parseInt(cols[1].split(':').pop()!, 16));
    }
  }
  return [...ports].sort((a, b) => a - b);
}
