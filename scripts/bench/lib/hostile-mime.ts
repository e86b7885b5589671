// Messages made to make a MIME parser work hard: many parts, deep nesting, huge header sections, line-less bodies,
// encoded words and RFC 2231 sections by the hundred thousand. scripts/bench/mime-stalls.ts sends them to a gateway;
// the tests of core/message build smaller ones with the same functions. Every line ends in CRLF, and no line is a
// lone dot, so a message goes through DATA as it is.

const HEAD = 'From: hostile@sender.example\r\nTo: user@bench.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n'
  + 'Message-ID: <hostile@sender.example>\r\nMIME-Version: 1.0\r\n';

/** A message of `head` fields (after the usual ones) and `body`; `subject` unless `head` has its own. */
export function message(head: string, body: string, subject = 'Subject: hostile\r\n'): Buffer {
  return Buffer.from(`${HEAD}${head.includes('Subject:') ? '' : subject}${head}\r\n${body}`, 'latin1');
}

/** `bytes` of base64 text in lines of 76 (or in one line with `lineLength` 0). */
export function base64Text(bytes: number, lineLength = 76): string {
  const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0';
  const whole = line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes - (bytes % 4));
  if (!lineLength) return `${whole}\r\n`;
  const lines: string[] = [];
  for (let i = 0; i < whole.length; i += lineLength) lines.push(whole.slice(i, i + lineLength));
  return `${lines.join('\r\n')}\r\n`;
}

/** multipart/mixed with `count` attachments, each `partBytes` of base64 (at least one line). */
export function manyParts(count: number, partBytes: number): Buffer {
  const content = base64Text(Math.max(4, partBytes));
  const parts: string[] = [];
  for (let i = 0; i < count; i++) {
    parts.push(`--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="f${i}.dat"\r\n`
      + `Content-Transfer-Encoding: base64\r\n\r\n${content}`);
  }
  return message('Content-Type: multipart/mixed; boundary="b"\r\n', `${parts.join('')}--b--\r\n`);
}

/** `depth` multiparts one inside the other, a `bytes` base64 attachment named `innermost.exe` in the innermost. */
export function nestedMultiparts(depth: number, bytes: number): Buffer {
  let inner = `Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="innermost.exe"\r\n`
    + `Content-Transfer-Encoding: base64\r\n\r\n${base64Text(bytes)}`;
  for (let level = depth; level >= 1; level--) {
    inner = `Content-Type: multipart/mixed; boundary="n${level}"\r\n\r\n--n${level}\r\n${inner}--n${level}--\r\n`;
  }
  const split = inner.indexOf('\r\n\r\n');
  return message(inner.slice(0, split + 2), inner.slice(split + 4));
}

/** `depth` messages attached one inside the other (message/rfc822), a `bytes` attachment in the innermost. */
export function nestedMessages(depth: number, bytes: number): Buffer {
  let inner = message('Content-Type: multipart/mixed; boundary="m0"\r\n', '--m0\r\nContent-Type: application/octet-stream\r\n'
    + `Content-Disposition: attachment; filename="innermost.exe"\r\nContent-Transfer-Encoding: base64\r\n\r\n${base64Text(bytes)}--m0--\r\n`).toString('latin1');
  for (let level = 1; level <= depth; level++) {
    inner = message(`Content-Type: multipart/mixed; boundary="m${level}"\r\n`, `--m${level}\r\nContent-Type: message/rfc822\r\n`
      + `Content-Disposition: attachment; filename="level${level}.eml"\r\n\r\n${inner}--m${level}--\r\n`).toString('latin1');
  }
  return Buffer.from(inner, 'latin1');
}

/** One field folded onto `folds` continuation lines of `lineBytes` each. */
export function foldedField(folds: number, lineBytes: number): string {
  return `X-Folded: start\r\n${` ${'f'.repeat(Math.max(1, lineBytes - 3))}\r\n`.repeat(folds)}`;
}

/** `count` fields of `lineBytes` each. */
export function manyFields(count: number, lineBytes: number): string {
  const fields: string[] = [];
  for (let i = 0; i < count; i++) fields.push(`X-Field-${i}: ${'v'.repeat(Math.max(1, lineBytes - 14 - String(i).length))}\r\n`);
  return fields.join('');
}

/** A message whose header section is `fields` (made to exceed the gateway's header limit). */
export function hugeHeader(fields: string): Buffer {
  return message(fields, 'body\r\n');
}

/** A multipart whose attachment part carries `fields` in its own header section (no header limit of the gateway's applies there). */
export function hugePartHeader(fields: string): Buffer {
  return message('Content-Type: multipart/mixed; boundary="h"\r\n', '--h\r\nContent-Type: text/plain\r\n\r\nhello\r\n'
    + `--h\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="big-header.exe"\r\n${fields}`
    + `Content-Transfer-Encoding: base64\r\n\r\n${base64Text(1024)}--h--\r\n`);
}

/** A single-part attachment of `bytes` base64 text with no line break in it. */
export function linelessBase64(bytes: number): Buffer {
  return message('Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename="one-line.bin"\r\n'
    + 'Content-Transfer-Encoding: base64\r\n', base64Text(bytes, 0));
}

/** `bytes` of quoted-printable with a soft line break after every two bytes, as an attachment or inline text. */
export function softBreakQp(bytes: number, attachment: boolean): Buffer {
  const disposition = attachment ? 'Content-Disposition: attachment; filename="soft.txt"\r\n' : '';
  return message(`Content-Type: text/plain; charset=utf-8\r\n${disposition}Content-Transfer-Encoding: quoted-printable\r\n`,
    `${'ab=\r\n'.repeat(Math.floor(bytes / 5))}end\r\n`);
}

/** A quoted-printable text part with a run of `blanks` spaces that no line break ends (a letter follows). */
export function qpBlankRun(blanks: number): Buffer {
  return message('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n',
    `before\r\n${' '.repeat(blanks)}x\r\nafter\r\n`);
}

/** `count` RFC 2047 encoded words, folded two to a line. */
export function encodedWords(count: number): string {
  const words: string[] = [];
  for (let i = 0; i < count; i++) words.push(i % 2 ? '=?utf-8?q?=C3=A9?=\r\n' : '=?utf-8?q?=C3=A9?= ');
  return words.join(' ').trimEnd();
}

/** A Subject of `count` encoded words in the message's own header section. */
export function encodedSubject(count: number): Buffer {
  return message(`Subject: ${encodedWords(count)}\r\n`, 'body\r\n');
}

/** An attached message whose Subject is `count` encoded words. */
export function attachedEncodedSubject(count: number): Buffer {
  const inner = message(`Subject: ${encodedWords(count)}\r\n`, 'inner body\r\n').toString('latin1');
  return message('Content-Type: multipart/mixed; boundary="e"\r\n', '--e\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n'
    + `--e\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename="fwd.eml"\r\n\r\n${inner}--e--\r\n`);
}

/** An attachment whose file name is split into `count` RFC 2231 sections (`filename*0*`, `filename*1`, …). */
export function filenameSections(count: number): Buffer {
  const sections: string[] = [`filename*0*=utf-8''setup`];
  for (let i = 1; i < count; i++) sections.push(`filename*${i}=x`);
  sections.push(`filename*${count}=.exe`);
  return message('Content-Type: multipart/mixed; boundary="r"\r\n', '--r\r\nContent-Type: text/plain\r\n\r\nhello\r\n'
    + `--r\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n ${sections.join(';\r\n ')}\r\n`
    + `Content-Transfer-Encoding: base64\r\n\r\n${base64Text(1024)}--r--\r\n`);
}

/** An HTML part of `depth` nested elements around one word. */
export function nestedHtml(depth: number): Buffer {
  // In lines of 100 tags: a line break between two tags changes nothing in HTML.
  const lines = (tag: string) => `${tag.repeat(100)}\r\n`.repeat(Math.floor(depth / 100)) + tag.repeat(depth % 100);
  return message('Content-Type: text/html; charset=utf-8\r\n', `<html><body>\r\n${lines('<div>')}deepword${lines('</div>')}\r\n</body></html>\r\n`);
}

/** A text part of `bytes` with no space in it, made of URL-like pieces (what tokenizers and URL finders scan). */
export function spacelessText(bytes: number): Buffer {
  const piece = 'http://a.example/www.b.example/x-y_z.';
  const text = piece.repeat(Math.ceil(bytes / piece.length)).slice(0, bytes);
  return message('Content-Type: text/plain; charset=us-ascii\r\n', `${text}\r\n`);
}

/** `count` Received fields. */
export function receivedLines(count: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(`Received: from hop${i}.example (hop${i}.example [192.0.2.1]) by relay${i}.example; Mon, 23 Nov 2026 10:00:00 +0000\r\n`);
  return message(lines.join(''), 'body\r\n');
}
