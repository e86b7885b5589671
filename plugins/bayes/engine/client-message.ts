// Where the message a client sent starts, in a copy that went through the gateway. The gateway scores and learns a
// message before it prepends its own Received field (core/smtp/message-intake.ts), and the copy a mailbox keeps
// carries that field, the X-Mailmoat-* fields under it, and above it whatever the servers behind us prepended
// (their own Received lines, Return-Path, Delivered-To). Read whole, that copy scored differently from what the
// gateway logged (up to 0.19 apart, one in ten in another band), and learning it from a mailbox taught our own
// host names as `rcv:` tokens. Both models (the tokenizer and the byte model) read a message from this point on, so
// `moat bayes score`, `verify` and `merge` on delivered copies see what the gateway saw.
//
// The gateway's field is known by the words it writes: `by <host> (Mailmoat) with <protocol>`. The lowest such field
// of the header section counts, so that reading from there is the same whether or not a message had already been
// through another Mailmoat gateway before ours: the gateway itself reads such a message from below that earlier field.

const MARK = '(Mailmoat)';
/** `by <host> (Mailmoat) with `, in a field's text with its folding kept. */
const OWN_TRACE = /(?:^|[\s)])by[ \t\r\n]+[^\s()]+[ \t\r\n]+\(Mailmoat\)[ \t\r\n]+with[ \t\r\n]/;
/** A header field's name and colon, as the MIME reader takes it (engine/mime.ts). */
const FIELD_START = /^[\x21-\x39\x3b-\x7e]+:/;
/** Bytes searched for the header section at most: the most any reader of a message takes (the plugin's `max_bytes`). */
const MAX_HEAD = 2 * 1024 * 1024;

/** The index (in `raw`'s own units: bytes or characters) at which the client's message starts; 0 when it is all theirs. */
export function clientMessageStart(raw: Buffer | string): number {
  // Nearly every message lacks the mark: one native search answers for them.
  if (raw.indexOf(MARK) < 0) return 0;
  const text = typeof raw === 'string' ? raw.slice(0, MAX_HEAD) : raw.toString('latin1', 0, Math.min(raw.length, MAX_HEAD));
  let start = 0;
  let pos = 0;
  let sawField = false;
  while (pos < text.length) {
    const end = lineEnd(text, pos);
    const line = text.slice(pos, end).replace(/\r?\n$/, '');
    if (line === '') break;
    // An mbox `From ` line may open a mailbox's copy; it is no field.
    if (!sawField && line.startsWith('From ')) { pos = end; continue; }
    if (!FIELD_START.test(line)) break;
    sawField = true;
    // The field runs on over its folded lines.
    let fieldEnd = end;
    while (fieldEnd < text.length && (text.charCodeAt(fieldEnd) === 32 || text.charCodeAt(fieldEnd) === 9)) fieldEnd = lineEnd(text, fieldEnd);
    if (/^received[ \t]*:/i.test(line) && OWN_TRACE.test(text.slice(pos + line.indexOf(':') + 1, fieldEnd))) start = fieldEnd;
    pos = fieldEnd;
  }
  // Latin-1 gives one character per byte, so the index holds for a Buffer too.
  return start;
}

/** `raw` from where the client's message starts (`clientMessageStart`): itself when nothing comes before. */
export function clientMessage<T extends Buffer | string>(raw: T): T {
  const start = clientMessageStart(raw);
  if (start === 0) return raw;
  return (typeof raw === 'string' ? raw.slice(start) : (raw as Buffer).subarray(start)) as T;
}

/** The index just past the line at `pos` (past its LF), or the text's end. */
function lineEnd(text: string, pos: number): number {
  const nl = text.indexOf('\n', pos);
  return nl < 0 ? text.length : nl + 1;
}
