// The attachment criteria on RAR and 7z archives, in a real gateway: real SMTP in, a recording smarthost out. An .exe
// in a RAR (5 or 4) or in a 7z with a plain header is refused by a name rule, or taken out by remove_attachments; a
// RAR with encrypted headers is unreadable; a 7z whose header is packed by a coder the gateway does not decompress
// passes the name rule, as documented, and an admin's rule on the unlisted-archive type sees it (7-Zip's default
// compressed header is read: sevenzip-default-header.test.ts). A ZIP deflated in a ZIP is listed too, and a zip bomb
// in one is unreadable.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { deflatedZeroBomb } from '../../core/message/bomb-builder.ts';
import { buildRar4, buildRar5 } from '../../core/message/rar-builder.ts';
import { PPMD_STAND_IN, repacked } from '../../core/message/sevenzip-builder.ts';
import { PROGRAM, buildZip } from '../../core/message/zip-builder.ts';
import { file, message, multipart, part } from './mime-build.ts';
import { sendRaw } from './timed-send.ts';

/** A multipart/mixed message with a text part and the given attachments, each in base64. */
const mixed = (subject: string, files: Array<{ name: string; type: string; data: Buffer }>) =>
  message(subject, multipart('mixed', 'arch-fmt-b', [part(['Content-Type: text/plain'], 'see attached'), ...files.map((f) => file(f.name, f.type, f.data))]));

/** setup.exe and a readme packed by 7zz with `switches`. */
function sevenZip(switches: string[]): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-7z-'));
  try {
    writeFileSync(path.join(dir, 'setup.exe'), PROGRAM);
    writeFileSync(path.join(dir, 'readme.txt'), 'hello\n');
    execFileSync('7zz', ['a', '-bso0', '-bsp0', ...switches, 'a.7z', 'setup.exe', 'readme.txt'], { cwd: dir });
    return readFileSync(path.join(dir, 'a.7z'));
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

/** invoice.zip holding inner.zip (setup.exe and a readme), deflated in it by `archiver`. */
function zipInZip(archiver: 'zip' | '7zz'): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-zip-in-zip-'));
  try {
    writeFileSync(path.join(dir, 'setup.exe'), PROGRAM);
    writeFileSync(path.join(dir, 'readme.txt'), 'hello\n');
    execFileSync('zip', ['-q', 'inner.zip', 'setup.exe', 'readme.txt'], { cwd: dir });
    // zip stores a .zip unless told otherwise (`-n :`); 7-Zip deflates it as every other file.
    if (archiver === 'zip') execFileSync('zip', ['-q', '-n', ':', 'invoice.zip', 'inner.zip'], { cwd: dir });
    else execFileSync('7zz', ['a', '-bso0', '-bsp0', '-tzip', 'invoice.zip', 'inner.zip'], { cwd: dir });
    return readFileSync(path.join(dir, 'invoice.zip'));
  } finally { rmSync(dir, { recursive: true, force: true }); }
}

const RAR = 'application/vnd.rar';
const SEVEN = 'application/x-7z-compressed';
const HELD = [{ name: 'readme.txt', data: Buffer.from('hello\n') }, { name: 'tools/setup.exe', data: PROGRAM }];

describe('plugins/rules: names inside RAR and 7z archives, in a gateway', function () {
  this.timeout(60_000);
  let gw: RelayingGateway;
  before(async () => {
    ensureCommands({ '7zz': '7zip' });
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'rules', rules: [
      { name: 'strip', when: { subject: { contains: 'strip' }, attachment: { name: '*.exe' } }, actions: [{ remove_attachments: { notice: 'Programs were taken out.' } }] },
      { name: 'exe-names', when: { not: { subject: { contains: 'strip' } }, attachment: { name: '*.exe' } }, actions: [{ reject: 'Executable attachments are not accepted' }] },
      { name: 'unreadable', when: { attachment: { detected_type: 'application/x-unreadable-archive' } }, actions: [{ reject: 'Archive not readable' }] },
      { name: 'unlisted', when: { attachment: { detected_type: 'application/x-unlisted-archive' } }, actions: [{ tag_subject: '[UNLISTED]' }] },
    ] }] } });
  });
  after(async () => { await gw?.stop(); });

  it('refuses setup.exe in a RAR 5, a RAR 4 and a 7z with a plain header, whatever the archive is named', async () => {
    for (const [label, name, type, data] of [
      ['rar5', 'docs.rar', RAR, buildRar5(HELD)],
      ['rar4', 'docs.rar', RAR, buildRar4(HELD)],
      ['7z-plain', 'docs.7z', SEVEN, sevenZip(['-mhc=off'])],
      ['rar-as-pdf', 'report.pdf', 'application/pdf', buildRar5(HELD)],
    ] as const) {
      const r = await sendRaw(gw.port, mixed(`exe-in-${label}`, [{ name, type, data }]));
      assert.equal(r.code, 550, `${label}: ${r.code} ${r.text}`);
      assert.match(r.text, /Executable attachments are not accepted/, label);
    }
  });

  it('passes a RAR and a plain-header 7z without programs, their messages relayed as sent', async () => {
    const harmless = [{ name: 'readme.txt', data: Buffer.from('hello\n') }];
    for (const [label, name, type, data] of [
      ['rar', 'notes.rar', RAR, buildRar5(harmless)],
      ['rar4', 'notes.rar', RAR, buildRar4(harmless)],
      ['7z', 'notes.7z', SEVEN, sevenZip(['-mhc=off', '-x!setup.exe'])],
    ] as const) {
      const r = await sendRaw(gw.port, mixed(`harmless-${label}`, [{ name, type, data }]));
      assert.equal(r.code, 250, `${label}: ${r.code} ${r.text}`);
      const relayed = await simpleParser(Buffer.from(await gw.sink.waitForText(`Subject: harmless-${label}\r\n`), 'latin1'));
      assert.ok(relayed.attachments[0].content.equals(data), `${label}: the archive byte for byte`);
    }
  });

  it('refuses a RAR whose headers are encrypted (rar -hp) as unreadable', async () => {
    const r = await sendRaw(gw.port, mixed('rar-hp', [{ name: 'docs.rar', type: RAR, data: buildRar5(HELD, { headersEncrypted: true }) }]));
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /Archive not readable/);
  });

  it('relays a 7z with a header packed by a coder not decompressed, its names not read, tagged by the rule on unlisted archives', async () => {
    const r = await sendRaw(gw.port, mixed('seven-default', [{ name: 'docs.7z', type: SEVEN, data: repacked(sevenZip(['-mhc=off']), PPMD_STAND_IN) }]));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    await gw.sink.waitForText('Subject: [UNLISTED] seven-default\r\n');
  });

  it('refuses setup.exe in a ZIP deflated in a ZIP, as zip and 7-Zip make it', async () => {
    ensureCommands({ zip: 'zip' });
    for (const archiver of ['zip', '7zz'] as const) {
      const data = zipInZip(archiver);
      assert.equal(data.readUInt16LE(8), 8, `${archiver}: inner.zip is deflated`);
      const r = await sendRaw(gw.port, mixed(`zip-in-zip-${archiver}`, [{ name: 'invoice.zip', type: 'application/zip', data }]));
      assert.equal(r.code, 550, `${archiver}: ${r.code} ${r.text}`);
      assert.match(r.text, /Executable attachments are not accepted/, archiver);
    }
  });

  it('refuses a ZIP holding a zip bomb (1 GB of zeros, deflated) as unreadable, and goes on taking mail', async () => {
    const bomb = deflatedZeroBomb(1024);
    const data = buildZip([{ name: 'inner.zip', deflate: true, packed: bomb.packed, statedSize: bomb.size, statedCrc: bomb.crc }]);
    const r = await sendRaw(gw.port, mixed('zip-bomb', [{ name: 'invoice.zip', type: 'application/zip', data }]));
    assert.equal(r.code, 550, `${r.code} ${r.text}`);
    assert.match(r.text, /Archive not readable/);
    const notes = buildZip([{ name: 'readme.txt', data: Buffer.from('hello\n'.repeat(50)), deflate: true }]);
    const after = await sendRaw(gw.port, mixed('after-bomb', [{ name: 'notes.zip', type: 'application/zip', data: notes }]));
    assert.equal(after.code, 250, `${after.code} ${after.text}`);
    await gw.sink.waitForText('Subject: after-bomb\r\n');
  });

  it('takes out a RAR holding setup.exe with remove_attachments, naming the file in it, and keeps the rest', async () => {
    const r = await sendRaw(gw.port, mixed('strip-rar', [
      { name: 'docs.rar', type: RAR, data: buildRar4(HELD) },
      { name: 'notes.7z', type: SEVEN, data: sevenZip(['-mhc=off', '-x!setup.exe']) },
    ]));
    assert.equal(r.code, 250, `${r.code} ${r.text}`);
    const relayed = await simpleParser(Buffer.from(await gw.sink.waitForText('Subject: strip-rar\r\n'), 'latin1'));
    assert.deepEqual(relayed.attachments.map((a) => a.filename), ['notes.7z']);
    assert.match(relayed.text!, /Programs were taken out\./);
    assert.match(relayed.text!, /docs\.rar \(it held docs\.rar \/ tools\/setup\.exe\)/);
  });
});
