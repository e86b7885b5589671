// `moat queue` run as root edits the queue files while no gateway runs; the gateway itself usually runs as a user
// of its own. Files the command created (a state file, a journal segment's `.done` list) would stay root's, and the
// gateway could then not append to them: a `.done` append that fails makes a delivered message look undelivered, and
// it is delivered again after the next start. So what root owns there is given to data_dir's owner.
import { chownSync, lstatSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { TRAIL_FILE } from './admin-trail.ts';

const FOLDERS = ['queue', 'quarantine', 'deadletter', 'journal'];

/** Gives the files root owns in data_dir's queue folders to data_dir's owner (when root runs this, and owns not data_dir). */
export function returnOwnership(dataDir: string): void {
  if (process.getuid?.() !== 0) return;
  let owner;
  try { owner = statSync(dataDir); } catch { return; }
  if (owner.uid === 0) return;
  for (const folder of FOLDERS) {
    const dir = path.join(dataDir, folder);
    let names: string[];
    try { names = readdirSync(dir); } catch { continue; }
    for (const name of names) giveBack(path.join(dir, name), owner.uid, owner.gid);
  }
  // The gateway reads the notes of what was changed at its next start.
  giveBack(path.join(dataDir, TRAIL_FILE), owner.uid, owner.gid);
}

function giveBack(file: string, uid: number, gid: number): void {
  try {
    const st = lstatSync(file);
    if (st.uid !== 0 || !st.isFile()) return;
    chownSync(file, uid, gid);
  } catch { /* gone meanwhile, or not ours to change */ }
}
