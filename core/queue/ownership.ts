// `moat queue` run as root edits the queue files while no gateway runs; the gateway itself usually runs as a user
// of its own. Files the command created (a state file, a journal segment's `.done` list) would stay root's, and the
// gateway could then not append to them: a `.done` append that fails makes a delivered message look undelivered, and
// it is delivered again after the next start. So what root owns there is given to data_dir's owner.
import { chownSync, lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { TRAIL_FILE } from './admin-trail.ts';

const FOLDERS = ['queue', 'quarantine', 'deadletter', 'journal'];

/**
 * Run as root, the uid whose files under data_dir must be for the gateway to use them: data_dir's owner, the account
 * the gateway runs as. Undefined when not run as root, or when root owns data_dir too: then the running account's own
 * access is what tells. Root passes every access check, so as root only a file's owner can say what the gateway may use.
 */
export function ownerForRoot(dataDirUid: number): number | undefined {
  return process.getuid?.() === 0 && dataDirUid !== 0 ? dataDirUid : undefined;
}

/** Gives the files root owns in data_dir's queue folders to data_dir's owner (when root runs this, and owns not data_dir). */
export function returnOwnership(dataDir: string): void {
  let top;
  try { top = statSync(dataDir); } catch { return; }
  const uid = ownerForRoot(top.uid);
  if (uid === undefined) return;
  for (const folder of FOLDERS) {
    const dir = path.join(dataDir, folder);
    let names: string[];
    try { names = readdirSync(dir); } catch { continue; }
    for (const name of names) giveBack(path.join(dir, name), uid, top.gid);
  }
  // The gateway reads the notes of what was changed at its next start.
  giveBack(path.join(dataDir, TRAIL_FILE), uid, top.gid);
}

function giveBack(file: string, uid: number, gid: number): void {
  try {
    const st = lstatSync(file);
    if (st.uid !== 0 || !st.isFile()) return;
    chownSync(file, uid, gid);
  } catch { /* gone meanwhile, or not ours to change */ }
}
