// What `moat start` writes is its own user's alone, as Postfix's queue files are: under umask 077 a delivered
// message, its queue files and the folders made for them are 0600 / 0700, whatever umask the shell had.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { spawnGateway } from '../../helpers/gateway.ts';
import { waitFor } from '../../helpers/wait-for.ts';

/** Every file and folder under `dir`, with its permission bits. */
function modes(dir: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const p = path.join(dir, name);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    // A temporary file renamed away meanwhile.
    if (!st) continue;
    if (st.isFile() || st.isDirectory()) out.push([name, st.mode & 0o777]);
  }
  return out;
}

describe('files a running gateway writes', function () {
  this.timeout(60_000);

  it('are readable by its own user alone (0600 files, 0700 folders), even started under umask 022', async () => {
    const before = process.umask(0o022);
    let gw;
    try { gw = await spawnGateway(); } finally { process.umask(before); }
    try {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: gw.port, secure: false, ignoreTLS: true });
      try { await t.sendMail({ from: 'a@client.example', to: 'user@example.com', subject: 'modes', text: 'hello' }); } finally { t.close(); }
      const delivered = path.join(gw.dataDir, 'delivered');
      await waitFor('the message delivered to the folder', () => (fs.existsSync(delivered) && fs.readdirSync(delivered).length > 0) || undefined);
      const open = modes(gw.dataDir).filter(([name, mode]) => name !== 'mailmoat.yaml' && (mode & 0o077) !== 0);
      assert.deepEqual(open, [], 'nothing under data_dir is open to group or others');
    } finally {
      await gw.kill();
    }
  });
});
