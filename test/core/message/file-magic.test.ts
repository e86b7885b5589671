// The type table: each format from its first bytes, the ones told apart by a field (fat Mach-O or Java class), and
// bytes that name nothing.
import assert from 'node:assert/strict';
import { detectFileType, MAGIC_HEAD_BYTES } from '../../../core/message/file-magic.ts';
import { PROGRAM, buildZip } from './zip-builder.ts';

const hex = (h: string, pad = 64) => Buffer.concat([Buffer.from(h.replace(/ /g, ''), 'hex'), Buffer.alloc(pad)]);
const latin = (s: string, pad = 64) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(pad)]);

describe('core/message/file-magic', () => {
  it('names programs, scripts and shortcuts from their first bytes', () => {
    assert.equal(detectFileType(PROGRAM), 'application/x-dosexec');
    assert.equal(detectFileType(hex('7f 45 4c 46 02 01 01')), 'application/x-executable');
    for (const m of ['fe ed fa ce', 'fe ed fa cf', 'ce fa ed fe', 'cf fa ed fe']) assert.equal(detectFileType(hex(m)), 'application/x-mach-binary', m);
    assert.equal(detectFileType(latin('#!/bin/sh\ncurl x | sh\n')), 'text/x-shellscript');
    assert.equal(detectFileType(hex('4c 00 00 00 01 14 02 00 00 00 00 00 c0 00 00 00 00 00 00 46 9b 00 08 00')), 'application/x-ms-shortcut');
  });

  it('names archives, Office compound files and PDF', () => {
    assert.equal(detectFileType(buildZip([{ name: 'a.txt', data: Buffer.from('hello') }])), 'application/zip');
    assert.equal(detectFileType(buildZip([])), 'application/zip'); // an empty archive starts with its end record
    assert.equal(detectFileType(latin('Rar!\x1a\x07\x00')), 'application/vnd.rar');
    assert.equal(detectFileType(latin('Rar!\x1a\x07\x01\x00')), 'application/vnd.rar');
    assert.equal(detectFileType(hex('37 7a bc af 27 1c 00 04')), 'application/x-7z-compressed');
    assert.equal(detectFileType(hex('1f 8b 08 00')), 'application/gzip');
    assert.equal(detectFileType(hex('d0 cf 11 e0 a1 b1 1a e1')), 'application/x-ole-storage');
    assert.equal(detectFileType(latin('MSCF\0\0\0\0')), 'application/vnd.ms-cab-compressed');
    assert.equal(detectFileType(latin('%PDF-1.7\n')), 'application/pdf');
    // Acrobat reads a header within the first 1 KB; junk before it does not hide a PDF, nor hide a program as one.
    assert.equal(detectFileType(latin(`${'x'.repeat(500)}%PDF-1.4`)), 'application/pdf');
    assert.equal(detectFileType(Buffer.concat([PROGRAM, Buffer.from('%PDF-1.4')])), 'application/x-dosexec');
  });

  it('finds an ISO 9660 image by its volume descriptor 32 KB in, and only with that many bytes', () => {
    for (const at of [0x8001, 0x8801, 0x9001]) {
      const iso = Buffer.alloc(MAGIC_HEAD_BYTES);
      iso.write('CD001', at, 'latin1');
      assert.equal(detectFileType(iso), 'application/x-iso9660-image', at.toString(16));
    }
    const cut = Buffer.alloc(0x8003);
    cut.write('CD', 0x8001, 'latin1');
    assert.equal(detectFileType(cut), undefined);
  });

  it('tells a fat Mach-O from a Java class (both CAFEBABE) by the count after it', () => {
    assert.equal(detectFileType(hex('ca fe ba be 00 00 00 02')), 'application/x-mach-binary');
    assert.equal(detectFileType(hex('ca fe ba be 00 00 00 34')), 'application/java-vm');
  });

  it('names nothing for plain text, images it does not list, and too few bytes', () => {
    assert.equal(detectFileType(latin('Dear Ann, the report is attached.')), undefined);
    assert.equal(detectFileType(hex('89 50 4e 47 0d 0a 1a 0a')), undefined);
    assert.equal(detectFileType(Buffer.from('M')), undefined);
    assert.equal(detectFileType(Buffer.alloc(0)), undefined);
  });
});
