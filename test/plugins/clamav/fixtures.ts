// Test messages for the clamav plugin: clean, EICAR in the body, as an attachment, inside a zip, and our marker signature.
import assert from 'node:assert/strict';
import { deflateRawSync, crc32 } from 'node:zlib';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { EICAR, MARKER } from '../../helpers/clamd.ts';

/** A zip archive with one deflated entry, so the EICAR bytes are not visible until clamd unpacks it. */
export function zipOf(name: string, content: Buffer): Buffer {
  const data = deflateRawSync(content);
  const fname = Buffer.from(name);
  const crc = crc32(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);           // version needed
  local.writeUInt16LE(8, 8);            // deflate
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(fname.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4);
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(fname.length, 28);
  const cdOffset = local.length + fname.length + data.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + fname.length, 12);
  end.writeUInt32LE(cdOffset, 16);
  return Buffer.concat([local, fname, data, central, fname, end]);
}

function base64Lines(b: Buffer): string {
  return b.toString('base64').replace(/.{1,76}/g, '$&\r\n');
}

function head(subject: string, extra = ''): string {
  return `From: sender@example.org\r\nTo: rcpt@example.com\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@example.org>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n${extra}`;
}

export function cleanMessage(subject = 'clean'): string {
  return `${head(subject)}\r\nHello,\r\nnothing to see here.\r\n`;
}

export function eicarInBody(subject = 'eicar-body'): string {
  return `${head(subject)}\r\n${EICAR}\r\n`;
}

const BOUNDARY = 'mm-boundary-1';

/** A multipart/mixed message: a text part, then attachments `[filename, contentType, bytes]`. */
export function withAttachments(subject: string, text: string, files: Array<[string, string, Buffer]>): string {
  const parts = files.map(([name, type, bytes]) =>
    `--${BOUNDARY}\r\nContent-Type: ${type}; name="${name}"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="${name}"\r\n\r\n${base64Lines(bytes)}`);
  return `${head(subject, `MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="${BOUNDARY}"\r\n`)}\r\n`
    + `This is a MIME message.\r\n--${BOUNDARY}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${text}\r\n`
    + parts.join('') + `--${BOUNDARY}--\r\n`;
}

export function eicarAttachment(subject = 'eicar-attachment'): string {
  return withAttachments(subject, 'See the attached file.', [['eicar.com', 'application/octet-stream', Buffer.from(EICAR)]]);
}

export function eicarInZip(subject = 'eicar-zip'): string {
  return withAttachments(subject, 'See the attached archive.', [['files.zip', 'application/zip', zipOf('eicar.com', Buffer.from(EICAR))]]);
}

/** A clean attachment between two infected ones (EICAR and our marker), for the strip action. */
export function mixedAttachments(subject = 'mixed'): string {
  return withAttachments(subject, 'Two files attached.', [
    ['report.txt', 'text/plain', Buffer.from('Quarterly figures: all good.\r\n')],
    ['eicar.com', 'application/octet-stream', Buffer.from(EICAR)],
    ['notes.txt', 'text/plain', Buffer.from(`A note with ${MARKER} inside.\r\n`)],
  ]);
}

/** One message from sender@example.org to rcpt@example.com through `port`; the reply to its DATA. */
export async function sendOne(port: number, message: string): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello()).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<sender@example.org>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<rcpt@example.com>')).code, 250);
    return await c.data(message);
  } finally {
    await c.quit();
  }
}
