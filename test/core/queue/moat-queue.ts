// `moat queue …` run as an admin runs it, on a gateway's data_dir: exit code, output, and the output read as JSON
// when it is JSON (with --json).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const MOAT = path.resolve(import.meta.dirname, '../../../scripts/moat.js');
const execFileP = promisify(execFile);

export interface QueueRun { code: number; stdout: string; stderr: string; json: any }

export async function moatQueue(dataDir: string, ...args: string[]): Promise<QueueRun> {
  let r: { code: number; stdout: string; stderr: string };
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [MOAT, 'queue', ...args, '--data-dir', dataDir], { timeout: 20_000 });
    r = { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    r = { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
  let json: unknown;
  try { json = JSON.parse(r.stdout); } catch { json = undefined; }
  return { ...r, json };
}
