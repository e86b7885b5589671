// RFC 2920 lets a client send commands ahead of their replies only once EHLO has offered PIPELINING, and DATA must
// end such a group: the message may follow only after the 354. Input that comes earlier is what bulk senders write
// without reading replies, and what SMTP smuggling relies on (a message whose end two servers read differently). As
// Postfix 3.9 does by default (smtpd_forbid_unauth_pipelining), such a client is refused and disconnected.
//
// smtp-server's parser splits a chunk into lines inside one call and keeps what follows the line it dispatched in a
// local variable, so the bytes past that line are counted here: the chunk each parse starts from (wrapping `_write`),
// how far the dispatched lines reached into it (wrapping `oncommand`), and the chunks queued behind it.
import type { Socket } from 'node:net';

export const PIPELINING_REFUSAL = { code: 554, text: '5.5.0 Protocol synchronization error: input sent before the reply it had to wait for' };

/** Longest excerpt of the early input the log line shows, escaped. */
const EXCERPT_CHARS = 100;

interface SmtpParser {
  _dataMode: boolean;
  _remainder: string;
  writableLength: number;
  _writableState?: { getBuffer?(): Array<{ chunk: unknown }> };
  _write(chunk: Buffer, encoding: string, next: (err?: Error | null) => void): void;
  oncommand(command: Buffer, callback?: () => void): void;
}

/** The text the parser is splitting into lines (latin1, one character per byte), and where the next line starts. */
interface ParseState { text: string; pos: number; inFlight: number }

const states = new WeakMap<object, ParseState>();

/** Starts counting what `parser` has received past each command line it dispatches. */
export function trackUnreadInput(parserObject: object): void {
  const parser = parserObject as SmtpParser;
  const state: ParseState = { text: '', pos: 0, inFlight: 0 };
  states.set(parser, state);
  const write = parser._write;
  parser._write = function (this: SmtpParser, chunk, encoding, next) {
    // The Writable hands over one chunk at a time; the parser's own calls (the rest of a chunk after a message's end)
    // come while that chunk is still being written, and it stays counted in writableLength until then.
    let done = next;
    if (state.inFlight === 0 && chunk?.length) {
      state.inFlight = chunk.length;
      done = (err) => { state.inFlight = 0; next(err); };
    }
    if (!this._dataMode) {
      // The same text the parser builds from its remainder and the chunk.
      state.text = this._remainder + (chunk ? chunk.toString('latin1') : '');
      state.pos = 0;
    }
    return write.call(this, chunk, encoding, done);
  };
  const oncommand = parser.oncommand;
  parser.oncommand = function (this: SmtpParser, command, callback) {
    const line = command ? command.toString('latin1') : '';
    const { text } = state;
    if (text.startsWith(line, state.pos)) {
      let end = state.pos + line.length;
      if (text[end] === '\r' && text[end + 1] === '\n') end += 2;
      else if (text[end] === '\n') end += 1;
      state.pos = end;
    } else {
      // Not a line of the text seen (cannot happen with smtp-server's parser): count nothing rather than guess.
      state.pos = text.length;
    }
    return oncommand.call(this, command, callback);
  };
}

export interface UnreadInput {
  /** Bytes received past the command line dispatched last. */
  bytes: number;
  /** The first of them, escaped for a log line (at most about 100 characters; AUTH data is not shown). */
  excerpt: string;
}

/** What the client sent past the command line being handled, as far as it has arrived. */
export function unreadInput(conn: { _parser?: unknown; _socket?: Socket }): UnreadInput {
  const parser = conn._parser as SmtpParser | undefined;
  const state = parser ? states.get(parser) : undefined;
  if (!parser || !state) return { bytes: 0, excerpt: '' };
  const rest = state.text.slice(state.pos);
  const queued = Math.max(0, parser.writableLength - state.inFlight);
  const bytes = rest.length + queued + (conn._socket?.readableLength ?? 0);
  if (bytes === 0) return { bytes, excerpt: '' };
  let sample = rest;
  // The buffer holds null entries while Node works through it (clearBuffer): those chunks are already on their way.
  for (const entry of parser._writableState?.getBuffer?.() ?? []) {
    if (sample.length > EXCERPT_CHARS) break;
    const chunk = (entry as { chunk?: unknown } | null)?.chunk;
    if (Buffer.isBuffer(chunk)) sample += chunk.toString('latin1');
  }
  return { bytes, excerpt: excerptOf(sample) };
}

/** Escapes bytes for a log line: printable ASCII as it is, CR, LF and tab by name, others as \xNN; cut when long. */
export function excerptOf(raw: string): string {
  // A login pipelined after HELO carries credentials: the excerpt stops before it.
  const auth = /(^|\n)AUTH\b/i.exec(raw);
  const shown = auth ? raw.slice(0, auth.index + auth[1].length) : raw;
  let out = '';
  for (const ch of shown) {
    const c = ch.charCodeAt(0);
    const piece = ch === '\r' ? '\\r' : ch === '\n' ? '\\n' : ch === '\t' ? '\\t' : ch === '\\' ? '\\\\'
      : c >= 0x20 && c < 0x7f ? ch : `\\x${c.toString(16).padStart(2, '0')}`;
    if (out.length + piece.length > EXCERPT_CHARS) return `${out}…`;
    out += piece;
  }
  return auth ? `${out}AUTH [not logged]` : out;
}

/** RFC 2920 §3.1: commands after which the client must wait for the reply (VRFY, NOOP and QUIT are let be). */
const ENDS_GROUP = new Set(['DATA', 'EHLO', 'HELO', 'LHLO']);

export interface PipeliningViolation extends UnreadInput {
  /** The command the early input followed. */
  after: string;
  reason: string;
}

/**
 * Whether the command `verb` (upper case), just read, was followed by input the client had to wait with: anything
 * after DATA (the message belongs after the 354) or after EHLO or HELO, or anything at all while PIPELINING is not
 * offered (before EHLO, after HELO, after STARTTLS until the new EHLO). Undefined when the client waited as it should.
 */
export function earlyInput(conn: { _parser?: unknown; _socket?: Socket; openingCommand?: string | false }, verb: string): PipeliningViolation | undefined {
  const pipeliningOffered = conn.openingCommand === 'EHLO';
  if (pipeliningOffered && !ENDS_GROUP.has(verb)) return undefined;
  const input = unreadInput(conn);
  if (input.bytes === 0) return undefined;
  const reason = verb === 'DATA' ? 'message sent before 354' : pipeliningOffered ? `${verb} must end a pipelined group` : 'PIPELINING not offered';
  return { after: verb, reason, ...input };
}
