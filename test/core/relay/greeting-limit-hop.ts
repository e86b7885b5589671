// A next hop on bare sockets that takes at most `capacity` sessions at once and greets the rest with
// `421 4.7.0 too many connections` (Postfix's smtpd_client_connection_count_limit). While `holding`, each message it
// takes waits at its final dot until the test answers it (250) or drops its session: the test decides when each
// delivery completes.
import net from 'node:net';
import readline from 'node:readline';

export interface GreetingLimitHop {
  port: number;
  /** Sessions greeted 220 from now on while fewer than this many are open. */
  capacity: number;
  /** Connections turned away with 421 so far. */
  refused: number;
  /** The most sessions open at once. */
  peak: number;
  /** Messages waiting at their final dot, oldest first. */
  held(): number;
  /** Answers the oldest waiting message with 250: one delivery completes. */
  acceptOldest(): void;
  /** Ends the sessions of every waiting message without a reply: those deliveries fail. */
  dropHeld(): void;
  /** Whether a message is answered 250 at once instead of waiting for the test. */
  holding: boolean;
  stop(): Promise<void>;
}

export async function startGreetingLimitHop(capacity: number): Promise<GreetingLimitHop> {
  const sessions = new Set<net.Socket>();
  const all = new Set<net.Socket>();
  const waiting: Array<{ socket: net.Socket; answer: () => void }> = [];

  /** Our replies to the commands a relay sends; any other gets 250. */
  const replies: Record<string, string> = { EHLO: '250-limit.test\r\n250 8BITMIME', DATA: '354 go ahead', QUIT: '221 2.0.0 bye' };
  const serve = (socket: net.Socket) => {
    const say = (text: string) => socket.write(`${text}\r\n`);
    let inData = false;
    readline.createInterface({ input: socket, crlfDelay: Infinity }).on('line', (line) => {
      if (inData) {
        if (line !== '.') return;
        inData = false;
        if (hop.holding) waiting.push({ socket, answer: () => say('250 2.0.0 queued') });
        else say('250 2.0.0 queued');
        return;
      }
      const verb = line.slice(0, 4).toUpperCase();
      inData = verb === 'DATA';
      say(replies[verb] ?? '250 2.0.0 ok');
      if (verb === 'QUIT') socket.end();
    });
    say('220 limit.test ESMTP');
  };

  const server = net.createServer((socket) => {
    all.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => { all.delete(socket); sessions.delete(socket); });
    if (sessions.size >= hop.capacity) {
      hop.refused++;
      socket.end('421 4.7.0 limit.test Error: too many connections from 127.0.0.1\r\n');
      return;
    }
    sessions.add(socket);
    hop.peak = Math.max(hop.peak, sessions.size);
    serve(socket);
  });

  const hop: GreetingLimitHop = {
    port: 0, capacity, refused: 0, peak: 0, holding: true,
    held: () => waiting.length,
    acceptOldest: () => waiting.shift()?.answer(),
    dropHeld: () => {
      // Out of the count at once, as a server's own count drops when it closes a session.
      for (const w of waiting.splice(0)) { sessions.delete(w.socket); w.socket.destroy(); }
    },
    stop: async () => {
      for (const s of all) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  hop.port = (server.address() as net.AddressInfo).port;
  return hop;
}
