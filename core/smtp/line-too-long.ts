// A command line longer than smtp-server's limit (16 KB) is answered `500 5.5.2 Error: line too long` and the session
// goes on, as Postfix does (RFC 5321 §4.5.3.1.4 names 500 for it). smtp-server failed its parser with
// `421 4.4.2 Error: Command line too long` and closed: a timeout's code, and the client was dropped for one line.
//
// The overlong line's bytes are dropped as they come, up to its line end, and a marker line takes its place, so the
// reply keeps its place among pipelined commands. Only up to a DATA or BDAT line: what follows may be a message.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { RawConnection } from './patches.ts';

/** Stands for an overlong line on its way to the command handler; a NUL no client command may carry makes it ours. */
const MARKER = '\0line too long\0';
const MARKER_LINE = Buffer.from(`${MARKER}\r\n`, 'latin1');
const LF = 0x0a;
const CR = 0x0d;
export const LINE_TOO_LONG = { code: 500, text: '5.5.2 Error: line too long' } as const;

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
    // Before the greeting it is early talk, whatever its length (smtp-server's refusal).
    if (!h || !this._ready || command.length !== MARKER.length || command.toString('latin1') !== MARKER) return onCommand.call(this, command, callback);
    // A client refused already (max_errors, a blocked connect) gets that refusal, as for any command.
    const refused = h.rejectingReply(this, 'UNKNOWN');
    if (refused) {
      this.send(refused.code, refused.text, false);
      if (refused.close) this.close();
      return setImmediate(() => callback());
    }
    h.ownRefusal(this);
    this.send(LINE_TOO_LONG.code, LINE_TOO_LONG.text, false);
    setImmediate(() => callback());
  };
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
        const head = (carried ? this._remainder.slice(0, 5) : '') + chunk.toString('latin1', at, Math.min(end, at + 5));
        if (lf >= 0 && isDataVerb(head)) { parts.push(chunk.subarray(lf + 1)); break; }
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

/** Whether a line starting `head` is DATA or BDAT, after which the bytes may be a message's. */
function isDataVerb(head: string): boolean {
  const verb = head.slice(0, 4).toUpperCase();
  return verb === 'DATA' || verb === 'BDAT';
}
