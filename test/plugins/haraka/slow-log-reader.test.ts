// `moat start | a slow log shipper`, stopped by `moat stop`: the last lines are still queued for the pipe when the
// stop is over. The process waits for the reader to take them all ("mailmoat stopped" the last) and exits 0, without
// blaming a plugin for the log's own pipe.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { logLines } from '../../helpers/spawned-log.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

/** A plugin whose shutdown logs far more than a pipe holds (about 800 KB), as a chatty plugin at stop would. */
const CHATTY = `
exports.hook_mail = function (next) { next() }
exports.shutdown = function () { for (let i = 0; i < 4000; i++) this.logwarn('closing ' + i + ' ' + 'x'.repeat(160)) }
`;

/** How long the reader rests after each chunk it takes: a reader slower than the gateway writes. */
const READER_REST_MS = 150;

describe('moat start: a slow log reader at moat stop', function () {
  this.timeout(120_000);
  let base: string;
  let release: () => void;
  let gw: SpawnedGateway | undefined;

  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'haraka-slow-reader-'));
    release = holdUntilExit({ dir: base });
    fs.mkdirSync(path.join(base, 'config'));
    fs.mkdirSync(path.join(base, 'plugins'));
    fs.writeFileSync(path.join(base, 'config', 'plugins'), 'chatty\n');
    fs.writeFileSync(path.join(base, 'plugins', 'chatty.js'), CHATTY);
  });
  after(async () => {
    await gw?.kill('SIGKILL');
    fs.rmSync(base, { recursive: true, force: true });
    release();
  });

  it('writes every last line, exits 0 and names no plugin', async () => {
    gw = await spawnGateway({ config: { plugins: [{ name: 'haraka', dir: base }] } });
    const out = gw.child.stdout!;
    // From now on the reader takes a chunk, then rests.
    out.on('data', () => {
      out.pause();
      setTimeout(() => out.resume(), READER_REST_MS);
    });
    const closed = once(out, 'close');
    const stopped = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, [MOAT, 'stop', '--config', gw!.configFile], { cwd: os.tmpdir() }, (err, _out, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stderr });
      });
    });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(await gw.exited, 0);
    await closed;
    const lines = logLines(gw);
    assert.equal(lines.filter((l) => /^closing \d+ x+$/.test(String(l.msg))).length, 4000, 'every line of the plugin\'s shutdown');
    assert.equal(lines.at(-1)?.msg, 'mailmoat stopped');
    assert.ok(!lines.some((l) => /^exiting: something a plugin opened/.test(String(l.msg))), 'no plugin blamed for the log\'s pipe');
  });
});
