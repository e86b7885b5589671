// A loopback TCP relay in front of a server (Redis, in the bayes tests), to play the network's faults on demand:
// `down` refuses new connections (a partition, the server itself untouched), `hold` keeps the server's answers back
// (a command that ran, whose answer never arrives), `cut()` drops every connection.
import net from 'node:net';

export class TcpRelay {
  down = false;
  hold = false;
  port = 0;
  private server!: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly target: () => number;
  /** `target` is asked at each connection, so the server behind may move to a new port between them. */
  constructor(target: () => number) { this.target = target; }

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.down) { client.destroy(); return; }
      const upstream = net.connect(this.target(), '127.0.0.1');
      this.sockets.add(client).add(upstream);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => { if (!this.hold) client.write(d); });
      const drop = () => { client.destroy(); upstream.destroy(); this.sockets.delete(client); this.sockets.delete(upstream); };
      for (const s of [client, upstream]) { s.on('error', drop); s.on('close', drop); }
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  cut(): void { for (const s of this.sockets) s.destroy(); }

  async stop(): Promise<void> {
    this.down = true;
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}
