// Replies written in one turn of the event loop leave the socket in one write (pipelined MAIL, RCPT and DATA get
// their answers in one packet, as Postfix sends them), instead of a system call each.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { Socket } from 'node:net';

interface Writer { _socket?: Socket; _upgrading?: boolean; send(code: number, data?: unknown, context?: unknown): void }

/** Replies that must not wait: the greeting and STARTTLS's go-ahead (a TLS handshake follows), and the goodbyes. */
const UNBATCHED = new Set([220, 221, 421]);
const corked = new WeakSet<Socket>();

let applied = false;

export function applyReplyBatching(): void {
  if (applied) return;
  applied = true;
  const proto = SMTPConnection.prototype as unknown as Writer;
  const send = proto.send;
  proto.send = function (this: Writer, code: number, data?: unknown, context?: unknown) {
    const socket = this._socket;
    if (socket && UNBATCHED.has(code) && corked.has(socket)) {
      // What waits goes first, then this reply, straight away.
      corked.delete(socket);
      while (socket.writableCorked) socket.uncork();
    }
    if (socket && !UNBATCHED.has(code) && !this._upgrading && !corked.has(socket) && !socket.destroyed) {
      corked.add(socket);
      socket.cork();
      setImmediate(() => { if (corked.delete(socket)) socket.uncork(); });
    }
    send.call(this, code, data, context);
  };
}
