// Rewrites a raw MIME message so that listed links in its text and HTML parts read "link removed".
//
// Only the text/plain and text/html leaves that contain a listed link are touched: they are decoded, rewritten
// and re-encoded as UTF-8 with their original transfer encoding; every other byte of the message stays as it was.

const URL_RE = /https?:\/\/[^\s"'<>()[\]{}]+/gi;

interface Part { head: string; body: string }

function split(raw: string): Part {
  const m = /\r?\n\r?\n/.exec(raw);
  return m ? { head: raw.slice(0, m.index + m[0].length), body: raw.slice(m.index + m[0].length) } : { head: raw, body: '' };
}

/** The unfolded value of a header in a header block, or undefined. */
function header(head: string, name: string): string | undefined {
  const re = new RegExp(`^${name}:([^\\r\\n]*(?:\\r?\\n[ \\t][^\\r\\n]*)*)`, 'im');
  const m = re.exec(head);
  return m ? m[1].replace(/\r?\n[ \t]/g, ' ').trim() : undefined;
}

function param(value: string | undefined, name: string): string | undefined {
  const m = value && new RegExp(`;\\s*${name}\\s*=\\s*(?:"([^"]*)"|([^;\\s]+))`, 'i').exec(value);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** Replaces (or appends) a header in a header block, keeping the blank line that ends it. */
function setHeader(head: string, name: string, value: string): string {
  const re = new RegExp(`^${name}:[^\\r\\n]*(?:\\r?\\n[ \\t][^\\r\\n]*)*\\r?\\n`, 'im');
  const line = `${name}: ${value}\r\n`;
  if (re.test(head)) return head.replace(re, line);
  const end = /\r?\n\r?\n$/.exec(head);
  return end ? head.slice(0, end.index) + '\r\n' + line + '\r\n' : head + line;
}

function decode(body: string, cte: string): Buffer {
  if (cte === 'base64') return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  if (cte === 'quoted-printable') {
    const soft = body.replace(/=\r?\n/g, '');
    const bytes: number[] = [];
    for (let i = 0; i < soft.length; i++) {
      const hex = soft[i] === '=' ? /^[0-9A-Fa-f]{2}$/.exec(soft.slice(i + 1, i + 3)) : null;
      if (hex) { bytes.push(parseInt(hex[0], 16)); i += 2; } else bytes.push(soft.charCodeAt(i) & 0xff);
    }
    return Buffer.from(bytes);
  }
  return Buffer.from(body, 'latin1');
}

function encodeQp(buf: Buffer): string {
  const lines: string[] = [];
  for (const text of buf.toString('latin1').split(/\r?\n/)) {
    let line = '';
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const last = i === text.length - 1;
      const plain = (c >= 33 && c <= 126 && c !== 61) || ((c === 32 || c === 9) && !last);
      const enc = plain ? text[i] : `=${c.toString(16).toUpperCase().padStart(2, '0')}`;
      if (line.length + enc.length > 75) { lines.push(line + '='); line = ''; }
      line += enc;
    }
    lines.push(line);
  }
  return lines.join('\r\n');
}

function encode(buf: Buffer, cte: string): string {
  if (cte === 'base64') return (buf.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n') + '\r\n';
  if (cte === 'quoted-printable') return encodeQp(buf);
  return buf.toString('latin1');
}

function charsetText(buf: Buffer, charset: string | undefined): string {
  try { return new TextDecoder(charset ?? 'us-ascii').decode(buf); } catch { return buf.toString('utf8'); }
}

function rewriteLeaf(part: Part, listed: (url: string) => boolean, replacement: string): Part | undefined {
  const type = header(part.head, 'content-type') ?? 'text/plain';
  if (!/^text\/(plain|html)\b/i.test(type)) return undefined;
  const cte = (header(part.head, 'content-transfer-encoding') ?? '7bit').toLowerCase();
  const text = charsetText(decode(part.body, cte), param(type, 'charset'));
  let changed = false;
  const out = text.replace(URL_RE, (url) => (listed(url) ? ((changed = true), replacement) : url));
  if (!changed) return undefined;
  const bytes = Buffer.from(out, 'utf8');
  const newCte = cte === 'base64' || cte === 'quoted-printable' ? cte : /[^\x00-\x7f]/.test(out) ? '8bit' : cte;
  const baseType = type.split(';')[0].trim();
  const rest = type.split(';').slice(1).filter((p) => !/^\s*charset\s*=/i.test(p)).map((p) => p.trim()).filter(Boolean);
  let head = setHeader(part.head, 'Content-Type', [baseType, 'charset=utf-8', ...rest].join('; '));
  if (newCte !== cte || header(part.head, 'content-transfer-encoding')) head = setHeader(head, 'Content-Transfer-Encoding', newCte);
  const body = encode(bytes, newCte);
  return { head, body: cte === 'base64' ? body : body.endsWith('\n') || !part.body.endsWith('\n') ? body : body + '\r\n' };
}

function rewritePart(raw: string, listed: (url: string) => boolean, replacement: string, depth: number): string | undefined {
  const part = split(raw);
  const type = header(part.head, 'content-type') ?? 'text/plain';
  if (/^multipart\//i.test(type)) {
    const boundary = param(type, 'boundary');
    if (!boundary || depth > 20) return undefined;
    const delim = `--${boundary}`;
    const pieces = part.body.split(new RegExp(`(^${delim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?:--)?[ \\t]*\\r?\\n?)`, 'm'));
    let changed = false;
    // pieces: preamble, delimiter, part, delimiter, part, …, closing delimiter, epilogue
    for (let i = 2; i < pieces.length; i += 2) {
      if (pieces[i - 1].startsWith(`${delim}--`)) break;
      const body = pieces[i];
      // The line break before a delimiter belongs to the delimiter (RFC 2046), not to the part.
      const m = /\r?\n$/.exec(body);
      const inner = m ? body.slice(0, m.index) : body;
      const done = rewritePart(inner, listed, replacement, depth + 1);
      if (done !== undefined) { pieces[i] = done + (m ? m[0] : ''); changed = true; }
    }
    return changed ? part.head + pieces.join('') : undefined;
  }
  const leaf = rewriteLeaf(part, listed, replacement);
  return leaf ? leaf.head + leaf.body : undefined;
}

/** The rewritten message, or undefined when no listed link was found in a text or HTML part. */
export function defangMessage(raw: Buffer, listed: (url: string) => boolean, replacement: string): Buffer | undefined {
  const out = rewritePart(raw.toString('latin1'), listed, replacement, 0);
  return out === undefined ? undefined : Buffer.from(out, 'latin1');
}
