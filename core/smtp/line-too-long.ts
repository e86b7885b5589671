// A command line longer than smtp-server's limit (16 KB) is answered `500 5.5.2 Error: line too long` and the session
// goes on, as Postfix does (RFC 5321 §4.5.3.1.4 names 500 for it). smtp-server failed its parser with
// `421 4.4.2 Error: Command line too long` and closed: a timeout's code, and the client was dropped for one line.
//
// The overlong line's bytes are dropped as they come, up to its line end, and a marker line takes its place, so the
// reply keeps its place among pipelined commands. Once a message is being read (DATA's 354) its lines are left alone.
// Bytes behind a DATA line in the same chunk are judged as command lines too: on these listeners they are never a
// message, as a DATA with input behind it is refused unread (pipelining-guard.ts, RFC 2920 §3.1), while a BDAT (not
// offered) or a 334 answer that happens to start `DATA` leaves them to be read as commands.
//
// An overlong answer to a 334 ends the AUTH exchange with RFC 4954's `500 5.5.6` (§6: the client's response is longer
// than the server can take): the next line is a command again, not credentials checked and counted as a failed login.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { RawConnection } from './patches.ts';

/** Stands for an overlong line on its way to the command handler; a NUL no client command may carry makes it ours. */
const MARKER = '\0line too long\0';
const MARKER_LINE = Buffer.from(`${MARKER}\r\n`, 'latin1');
const LF = 0x0a;
const CR = 0x0d;
const LINE_TOO_LONG = { code: 500, text: '5.5.2 Error: line too long' } as const;
const AUTH_LINE_TOO_LONG = { code: 500, text: '5.5.6 Authentication exchange line is too long' } as const;

interface Parser {
  _dataMode: boolean;
  _remainder: string;
  _maxCommandLength: number;
  _write(chunk: Buffer, encoding: string, next: (err?: Error | null) => void): void;
}

type Handler = (this: RawConnection, command: Buffer, callback: () => void) => void;

let applied = false;

export function applyLineTooLong(): void {
  if (applied) return;
  applied = true;
  const proto = SMTPConnection.prototype as unknown as Record<string, unknown>;

  const createParser = proto._createParser as (this: RawConnection) => Parser;
  proto._createParser = function (this: RawConnection) {
    const parser = createParser.call(this);
    if (this._server._mailmoat) cutOverlongLines(parser);
    return parser;
  };

  const onCommand = proto._onCommand as Handler;
  proto._onCommand = function (this: RawConnection, command: Buffer, callback: () => void) {
    const h = this._server._mailmoat;
    // Before the greeting it is early talk, whatever its length (smtp-server's refusal). During a TLS handshake or a
    // stop smtp-server's own handling stands: the line is dropped unanswered, or gets the stop's 421.
    if (!h || !this._ready || !isMarker(command) || this._upgrading || isStopping(this)) return onCommand.call(this, command, callback);
    // Whatever the reply, the line was the client's answer to a 334: the exchange is over.
    const inAuthExchange = !!this._nextHandler;
    this._nextHandler = false;
    // A client refused already (max_errors, a blocked connect) gets that refusal, as for any command.
    const refused = h.rejectingReply(this, 'UNKNOWN');
    if (refused) {
      this.send(refused.code, refused.text, false);
      if (refused.close) this.close();
      return readNextWhenWritable(this, callback);
    }
    h.ownRefusal(this);
    const reply = inAuthExchange ? AUTH_LINE_TOO_LONG : LINE_TOO_LONG;
    this.send(reply.code, reply.text, false);
    readNextWhenWritable(this, callback);
  };
}

function isMarker(command: Buffer): boolean {
  return command.length === MARKER.length && command.toString('latin1') === MARKER;
}

function isStopping(conn: RawConnection): boolean {
  return !!(conn._server as { _closeTimeout?: unknown })._closeTimeout;
}

/**
 * The next line is read once the reply has left, as smtp-server does after each command: a client that sends and
 * never reads would otherwise have its replies pile up in our memory.
 */
function readNextWhenWritable(conn: RawConnection, callback: () => void): void {
  const whenWritable = (conn as { _whenWritable?: (next: () => void) => void })._whenWritable;
  setImmediate(() => (typeof whenWritable === 'function' ? whenWritable.call(conn, callback) : callback?.()));
}

/** Replaces each command line over the parser's limit with MARKER_LINE before smtp-server's parser reads it. */
function cutOverlongLines(parser: Parser): void {
  const write = parser._write;
  let dropping = false;
  parser._write = function (this: Parser, chunk: Buffer, encoding: string, next: (err?: Error | null) => void) {
    if (this._dataMode || !chunk?.length) return write.call(this, chunk, encoding, next);
    const max = this._maxCommandLength;
    const parts: Buffer[] = [];
    let at = 0;
    if (dropping) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) return next();
      dropping = false;
      parts.push(MARKER_LINE);
      at = lf + 1;
    }
    // The unfinished line smtp-server holds from earlier chunks belongs to the first line here.
    let carried = this._remainder.length;
    while (at < chunk.length) {
      const lf = chunk.indexOf(LF, at);
      const end = lf < 0 ? chunk.length : lf;
      const content = carried + end - at - (lf >= 0 && end > at && chunk[end - 1] === CR ? 1 : 0);
      if (content > max) {
        // What smtp-server holds of this line goes too; a later line's length leaves the first line's start alone.
        if (carried) this._remainder = '';
        if (lf < 0) { dropping = true; break; }
        parts.push(MARKER_LINE);
      } else {
        parts.push(chunk.subarray(at, lf < 0 ? chunk.length : lf + 1));
      }
      carried = 0;
      if (lf < 0) break;
      at = lf + 1;
    }
    const out = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    if (!out.length) return next();
    return write.call(this, out, encoding, next);
  };
}
