// Deadlines the idle timeout cannot give: it starts again at every byte read, so a client trickling one byte at a
// time could hold a DATA, or a command line, open without end (Postfix's smtpd_per_record_deadline). Two timers
// per connection, neither extended by input:
// - a command line must be complete within idle_timeout of its first byte;
// - a message must reach its final dot within limits.data_timeout of the 354.
// What happens when one passes (the 421, the log line) is the caller's; this only keeps the timers.

type Timer = ReturnType<typeof setTimeout>;

interface Deadlines { line?: Timer; data?: Timer }

const timers = new WeakMap<object, Deadlines>();

function of(owner: object): Deadlines {
  let d = timers.get(owner);
  if (!d) { d = {}; timers.set(owner, d); }
  return d;
}

interface Writer { write(chunk: unknown, ...rest: unknown[]): boolean }

/**
 * Watches what arrives at `parser` (a pipe writes each chunk the moment the socket reads it, whatever the parser is
 * busy with): the bytes after the last line end make an unfinished line, and `expired` runs `timeoutMs()` after its
 * first byte unless a line end came meanwhile. In DATA the caller ignores it: the message has a deadline of its own.
 */
export function watchCommandLines(owner: object, parser: Writer, timeoutMs: () => number, expired: () => void): void {
  const d = of(owner);
  const stop = () => { if (d.line) { clearTimeout(d.line); d.line = undefined; } };
  const start = () => {
    stop();
    d.line = setTimeout(() => { d.line = undefined; expired(); }, timeoutMs());
    d.line.unref();
  };
  stop();
  const write = parser.write;
  parser.write = function (this: Writer, chunk: unknown, ...rest: unknown[]) {
    if (Buffer.isBuffer(chunk) && chunk.length > 0) {
      const lf = chunk.lastIndexOf(0x0a);
      if (lf < 0) { if (!d.line) start(); } // a line already under way keeps the time of its first byte
      else if (lf === chunk.length - 1) stop();
      else start(); // a new line began after this chunk's last line end
    }
    return write.call(this, chunk, ...rest);
  };
}

/** Starts the message's deadline; it is cleared when the message's stream finishes (the final dot) or closes. */
export function armDataDeadline(owner: object, stream: NodeJS.EventEmitter, ms: number, expired: () => void): void {
  const d = of(owner);
  if (d.data) clearTimeout(d.data);
  const timer = setTimeout(() => { if (d.data === timer) d.data = undefined; expired(); }, ms);
  timer.unref();
  d.data = timer;
  const clear = () => { if (d.data === timer) { clearTimeout(timer); d.data = undefined; } };
  stream.once('finish', clear);
  stream.once('close', clear);
}

/** Clears both deadlines (the connection closed). */
export function clearDeadlines(owner: object): void {
  const d = timers.get(owner);
  if (!d) return;
  if (d.line) clearTimeout(d.line);
  if (d.data) clearTimeout(d.data);
  timers.delete(owner);
}
