// A file's type as its first bytes tell it, whatever name and Content-Type the sender gave it: a Windows program
// sent as report.pdf is still a program to the machine that opens it. A short table of the formats that carry code or
// hide other files (programs, scripts, archives, disk images, shortcuts), plus PDF; anything else is not named.

/** Bytes of a file's start that `detectFileType` may look at: the ISO 9660 descriptors lie 32-36 KB in. */
export const MAGIC_HEAD_BYTES = 0x9001 + 5;

interface Signature { type: string; at: number; bytes: Buffer }

const sig = (type: string, at: number, hex: string): Signature => ({ type, at, bytes: Buffer.from(hex.replace(/ /g, ''), 'hex') });
const text = (type: string, at: number, s: string): Signature => ({ type, at, bytes: Buffer.from(s, 'latin1') });

/** Tried in order; the first that fits names the type. */
const SIGNATURES: readonly Signature[] = [
  text('application/x-dosexec', 0, 'MZ'),
  sig('application/x-executable', 0, '7f 45 4c 46'),
  // Mach-O, 32 and 64 bits, either byte order (the fat form shares CAFEBABE with Java classes, told apart below).
  sig('application/x-mach-binary', 0, 'fe ed fa ce'),
  sig('application/x-mach-binary', 0, 'fe ed fa cf'),
  sig('application/x-mach-binary', 0, 'ce fa ed fe'),
  sig('application/x-mach-binary', 0, 'cf fa ed fe'),
  text('text/x-shellscript', 0, '#!'),
  // A Windows shortcut: header size 0x4C, then the ShellLink class id.
  sig('application/x-ms-shortcut', 0, '4c 00 00 00 01 14 02 00 00 00 00 00 c0 00 00 00 00 00 00 46'),
  sig('application/zip', 0, '50 4b 03 04'),
  sig('application/zip', 0, '50 4b 05 06'),
  sig('application/zip', 0, '50 4b 07 08'),
  text('application/vnd.rar', 0, 'Rar!\x1a\x07'),
  sig('application/x-7z-compressed', 0, '37 7a bc af 27 1c'),
  sig('application/gzip', 0, '1f 8b'),
  sig('application/x-ole-storage', 0, 'd0 cf 11 e0 a1 b1 1a e1'),
  sig('application/vnd.ms-cab-compressed', 0, '4d 53 43 46 00 00 00 00'),
  // ISO 9660: the volume descriptors start at sector 16 (0x8000), each with "CD001" after its type byte.
  text('application/x-iso9660-image', 0x8001, 'CD001'),
  text('application/x-iso9660-image', 0x8801, 'CD001'),
  text('application/x-iso9660-image', 0x9001, 'CD001'),
];

const JAVA_OR_FAT = Buffer.from('cafebabe', 'hex');
const PDF = Buffer.from('%PDF-', 'latin1');
/** Acrobat opens a PDF whose header is anywhere in its first 1 KB, so a few bytes of junk in front do not hide one. */
const PDF_WITHIN = 1024;

/**
 * The type `head` (a file's first bytes, MAGIC_HEAD_BYTES of them suffice) says the file is, or undefined when it
 * fits no entry of the table. Constant work whatever the input: a few comparisons and one search of 1 KB.
 */
export function detectFileType(head: Buffer): string | undefined {
  for (const s of SIGNATURES) {
    if (head.length >= s.at + s.bytes.length && head.compare(s.bytes, 0, s.bytes.length, s.at, s.at + s.bytes.length) === 0) return s.type;
  }
  if (head.length >= 8 && head.compare(JAVA_OR_FAT, 0, 4, 0, 4) === 0) {
    // A fat Mach-O counts its architectures (a handful); a Java class has its version there (45 and up).
    return head.readUInt32BE(4) < 20 ? 'application/x-mach-binary' : 'application/java-vm';
  }
  if (head.subarray(0, PDF_WITHIN).indexOf(PDF) >= 0) return 'application/pdf';
  return undefined;
}
