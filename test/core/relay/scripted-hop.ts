// A next hop on bare sockets for relay tests: each session's commands, the recipients of each message it took, and
// whether the session has ended; per connection, `decide` says whether it is served or hung up on before its greeting
// (no server answers: to the gateway, the destination is down), and `closeAfterMessage` ends a session once it took one;
// `mailReply` refuses MAIL FROM with a reply of the test's choosing (a 421 ends the session, as a rate limit's does).
import net from 'node:net';

export interface HopSession { commands: string[]; messages: string[][]; ended: boolean }

export interface ScriptedHop {
  port: number;
  sessions: HopSession[];
  /** Asked at each connection (0 for the first): serve it, or hang up at once. */
  decide: (index: number) => 'serve' | 'hang up';
  closeAfterMessage: boolean;
  /** Asked at each MAIL FROM: a reply line refusing it (`421 4.7.28 …` ends the session), or undefined to take it. */
  mailReply?: () => string | undefined;
  /** Every message taken, over all sessions, by its recipients. */
  delivered(): string[][];
  stop(): Promise<void>;
}

export async function startScriptedHop(): Promise<ScriptedHop> {
  const sockets = new Set<net.Socket>();
  const serve = (socket: net.Socket, s: HopSession) => {
    const say = (line: string) => socket.write(`${line}\r\n`);
    let buf = '';
    let rcpts: string[] | undefined;
    let inData = false;
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          buf = buf.slice(end + 5);
          inData = false;
          s.messages.push(rcpts ?? []);
          say('250 2.0.0 queued');
          if (hop.closeAfterMessage) { socket.end(); return; }
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.slice(0, eol);
        buf = buf.slice(eol + 2);
        const verb = line.slice(0, 4).toUpperCase();
        s.commands.push(verb);
        if (verb === 'EHLO') say('250-hop.test\r\n250 8BITMIME');
        else if (verb === 'MAIL') {
          const refusal = hop.mailReply?.();
          if (refusal?.startsWith('421')) { say(refusal); socket.end(); return; }
          rcpts = [];
          say(refusal ?? '250 2.1.0 ok');
        }
        else if (verb === 'RCPT') { rcpts?.push(/<([^>]*)>/.exec(line)?.[1] ?? ''); say('250 2.1.5 ok'); }
        else if (verb === 'DATA') { inData = true; say('354 go ahead'); }
        else if (verb === 'QUIT') { say('221 2.0.0 bye'); socket.end(); }
        else say('250 2.0.0 ok');
      }
    });
    say('220 hop.test ESMTP');
  };
  const server = net.createServer((socket) => {
    const s: HopSession = { commands: [], messages: [], ended: false };
    const index = hop.sessions.length;
    hop.sessions.push(s);
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => { s.ended = true; sockets.delete(socket); });
    if (hop.decide(index) === 'hang up') socket.destroy(); else serve(socket, s);
  });
  const hop: ScriptedHop = {
    port: 0, sessions: [], decide: () => 'serve', closeAfterMessage: false,
    delivered: () => hop.sessions.flatMap((s) => s.messages),
    stop: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((r) => server.close(() => r())); },
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  hop.port = (server.address() as net.AddressInfo).port;
  return hop;
}
