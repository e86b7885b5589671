// A next hop written on bare sockets, for what smtp-server hides from a test: the DATA bytes exactly as they came over
// the wire (dot-stuffed, line lengths as sent), a reply of the test's choosing per recipient, a connection dropped
// after the final dot, and a listener that goes away and comes back on the same port.
import net from 'node:net';

export interface RawTransaction {
  /** When the transaction's MAIL FROM arrived. */
  at: number;
  /** The MAIL FROM line as it came (latin1: Buffer.from(line, 'latin1') gives back its bytes). */
  mail: string;
  rcpts: Array<{ address: string; reply: string }>;
  /** The DATA section as sent, dot-stuffing included, without the final `.CRLF`; undefined when no DATA came. */
  wire?: Buffer;
  /** Dropped after the final dot instead of answering it. */
  dropped?: boolean;
}

export interface RawSmarthost {
  port: number;
  transactions: RawTransaction[];
  /** A full reply line per recipient address (`451 4.2.0 mailbox busy`) instead of `250`. */
  rcptReplies: Map<string, string>;
  /** Drops the connection, without a reply, after a message whose DATA this finds. */
  dropAfterData?: (wire: Buffer) => boolean;
  /** Answers each accepted message `250 2.0.0 queued as <prefix><n>` (n from 1, 4 digits), as a real MTA names its copy. */
  queuedAs?: string;
  /** Transactions whose message was accepted. */
  accepted(): RawTransaction[];
  /** Closes the listener and every open session (connections are then refused). */
  pause(): Promise<void>;
  /** Listens again on the same port. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

const END = Buffer.from('\r\n.\r\n');

/** `smtputf8` offers SMTPUTF8, so the gateway relays an address beyond ASCII as it holds it rather than downgrading it. */
export async function startRawSmarthost(opts: { smtputf8?: boolean } = {}): Promise<RawSmarthost> {
  const sockets = new Set<net.Socket>();
  const host: RawSmarthost = {
    port: 0, transactions: [], rcptReplies: new Map(),
    accepted: () => host.transactions.filter((t) => t.wire && !t.dropped),
    pause: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
    resume: async () => { server = listen(); await open(host.port); },
    stop: async () => { if (server.listening) await host.pause(); },
  };

  function session(socket: net.Socket): void {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let data: Buffer | undefined;
    let tx: RawTransaction | undefined;
    const say = (line: string) => { if (!socket.destroyed) socket.write(line + '\r\n'); };
    const command = (line: string): void => {
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') say(`250-raw.test\r\n250-8BITMIME\r\n${opts.smtputf8 ? '250-SMTPUTF8\r\n' : ''}250 ENHANCEDSTATUSCODES`);
      else if (verb === 'HELO' || verb === 'NOOP') say('250 2.0.0 ok');
      else if (verb === 'RSET') { tx = undefined; say('250 2.0.0 ok'); }
      else if (verb === 'MAIL') { tx = { at: Date.now(), mail: line, rcpts: [] }; host.transactions.push(tx); say('250 2.1.0 ok'); }
      else if (verb === 'RCPT' && tx) {
        const address = /<([^>]*)>/.exec(line)?.[1] ?? '';
        const reply = host.rcptReplies.get(address) ?? '250 2.1.5 ok';
        tx.rcpts.push({ address, reply });
        say(reply);
      } else if (verb === 'DATA' && tx?.rcpts.some((r) => r.reply.startsWith('2'))) { data = Buffer.alloc(0); say('354 go ahead'); }
      else if (verb === 'QUIT') { say('221 2.0.0 bye'); socket.end(); }
      else say('503 5.5.1 bad sequence');
    };
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (data) {
          const all = Buffer.concat([data, buf]);
          const i = all.subarray(0, 3).equals(END.subarray(2)) ? -2 : all.indexOf(END);
          if (i === -1) { data = all; buf = Buffer.alloc(0); return; }
          tx!.wire = all.subarray(0, Math.max(0, i + 2));
          buf = all.subarray(i + 5);
          data = undefined;
          if (host.dropAfterData?.(tx!.wire)) { tx!.dropped = true; socket.destroy(); return; }
          say(host.queuedAs === undefined ? '250 2.0.0 queued' : `250 2.0.0 queued as ${host.queuedAs}${String(host.accepted().length).padStart(4, '0')}`);
          tx = undefined;
          continue;
        }
        const eol = buf.indexOf('\r\n');
        if (eol < 0) return;
        const line = buf.subarray(0, eol).toString('latin1');
        buf = buf.subarray(eol + 2);
        command(line);
      }
    });
    say('220 raw.test ESMTP');
  }

  const listen = () => net.createServer(session);
  let server = listen();
  const open = (port: number) => new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  await open(0);
  host.port = (server.address() as net.AddressInfo).port;
  return host;
}
