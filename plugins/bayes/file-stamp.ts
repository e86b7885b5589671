// What tells a dictionary file's versions apart without reading it: a running gateway reloads when it changes.
import { promises as fsp } from 'node:fs';

export interface FileStamp { mtimeMs: number; size: number; ino: number }

export async function stamp(file: string): Promise<FileStamp | null> {
  try {
    const st = await fsp.stat(file);
    return { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
  } catch {
    return null;
  }
}

export const sameStamp = (a: FileStamp | null, b: FileStamp | null): boolean =>
  a === b || (!!a && !!b && a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino);
