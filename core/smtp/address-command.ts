// The path of a MAIL FROM or RCPT TO line and the parameters after it, with a quoted local part kept whole.
//
// Why: RFC 5321 §4.1.2 allows a space inside a quoted local part (`<"a b"@b.example>`), which Postfix accepts, but
// smtp-server and a plain split on whitespace take the space for the end of the path and the rest for a parameter;
// an `@` there (`<"u@x.example"@b.example>`) smtp-server takes for a second one, and a domain written from the root
// (`<u@example.com.>`) it refuses, where Postfix takes both.

/** Where the path that starts at `start` (a `<`) ends, just after its `>`; -1 when it does not end on this line. */
function pathEnd(text: string, start: number): number {
  let quoted = false;
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\') { i++; continue; }
    if (c === '"') quoted = !quoted;
    else if (c === '>' && !quoted) return i + 1;
  }
  return -1;
}

/**
 * `<"a b"@b.example> SIZE=10` → path `<"a b"@b.example>`, params `['SIZE=10']`. A line whose path is not in angle
 * brackets, or whose brackets do not close, splits at the first space, as smtp-server splits it.
 */
export function splitPathAndParams(afterColon: string): { path: string; params: string[] } {
  const text = afterColon.trim();
  // Nearly every path has no quoted part: its end is its first `>`, found without the character walk.
  const end = !text.startsWith('<') ? -1 : text.includes('"') ? pathEnd(text, 0) : text.indexOf('>') + 1 || -1;
  if (end < 0) {
    const [path = '', ...params] = text.split(/\s+/);
    return { path, params };
  }
  const rest = text.slice(end).trim();
  return { path: text.slice(0, end), params: rest ? rest.split(/\s+/) : [] };
}

/** A private-use character from `from` on that `text` does not hold: no address has a use for one. */
function unusedChar(text: string, from: number): string {
  let mark = from;
  while (text.includes(String.fromCharCode(mark))) mark++;
  return String.fromCharCode(mark);
}

/**
 * The command line as smtp-server's parser can take it, and the way back from the address it returns to the address
 * as sent; undefined when the line needs nothing of this (nearly every line).
 *
 * - A space or `@` inside the path's quoted strings is replaced by a character the line does not hold: RFC 5321's
 *   Quoted-string allows both (`<"a b"@b.example>`, `<"u@x.example"@b.example>`), and smtp-server splits the line at
 *   the one and refuses an address with two of the other. The domain stays the part after the last unquoted `@`.
 * - One dot ending the domain (`<u@example.com.>`, a name written from the root) is dropped, as Postfix drops it:
 *   the address without it is the one checked and relayed, so it is not put back.
 */
export function shieldQuotedSpaces(line: string): { line: string; restore(address: string): string } | undefined {
  if (!line.includes('"') && !line.includes('.>')) return undefined;
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  const open = line.indexOf('<', colon);
  if (open < 0 || line.slice(colon + 1, open).trim() !== '') return undefined;
  const end = pathEnd(line, open);
  if (end < 0) return undefined;
  const space = unusedChar(line, 0xe000);
  const at = unusedChar(line + space, 0xe000);
  const standIn = (c: string) => (c === ' ' ? space : c === '@' ? at : c);
  let quoted = false;
  let path = '';
  let changed = false;
  for (let i = open; i < end; i++) {
    const c = line[i];
    if (quoted && c === '\\') {
      const next = line[i + 1] ?? '';
      path += c + standIn(next);
      changed ||= standIn(next) !== next;
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (quoted && standIn(c) !== c) { path += standIn(c); changed = true; continue; }
    path += c;
  }
  // `path` is `<…>`; its last `@` is unquoted now, and a domain after it that ends in a dot loses that one dot.
  const domainAt = path.lastIndexOf('@');
  if (domainAt > 0 && path.endsWith('.>') && path.length - domainAt > 3) {
    path = `${path.slice(0, -2)}>`;
    changed = true;
  }
  if (!changed) return undefined;
  return {
    line: line.slice(0, open) + path + line.slice(end),
    restore: (address) => address.split(space).join(' ').split(at).join('@'),
  };
}
