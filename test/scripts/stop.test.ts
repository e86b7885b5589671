// `moat stop` against a real gateway in a child process: it asks through the control socket, the gateway stops in
// order (`stopping` with `reason: moat stop`, then `mailmoat stopped`), its port closes, and the command returns only
// once the process has exited (exit 0); with no gateway on the data_dir, exit 2.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, type SpawnedGateway } from '../helpers/gateway.ts';
import { holdUntilExit } from '../helpers/leftovers.ts';
import { logLines } from '../helpers/spawned-log.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

interface Ran { code: number; stdout: string; stderr: string }

function moat(args: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd: os.tmpdir() }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/** Whether something accepts connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

describe('moat stop', function () {
  this.timeout(60_000);
  let gw: SpawnedGateway | undefined;
  afterEach(async () => {
    await gw?.kill();
    gw = undefined;
  });

  it('stops the running gateway in order and returns once it has exited (exit 0)', async () => {
    gw = await spawnGateway();
    assert.equal(await listening(gw.port), true);
    const ran = await moat(['stop', '--config', gw.configFile]);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, new RegExp(`^stopped the gateway \\(pid ${gw.child.pid}\\) on `));
    // Returned only once the process had exited: no wait is needed for what follows.
    assert.equal(await gw.exited, 0);
    assert.equal(await listening(gw.port), false);
    const lines = logLines(gw);
    const stopping = lines.find((l) => l.msg === 'stopping');
    assert.equal(stopping?.reason, 'moat stop');
    assert.ok(lines.some((l) => l.msg === 'control request' && l.op === 'stop'), 'the request is in the admin trail');
    assert.ok(lines.some((l) => l.msg === 'mailmoat stopped'), gw.output.join(''));
  });

  it('says so and exits 2 when no gateway runs on the data_dir, found by --config or --set data_dir', async () => {
    gw = await spawnGateway();
    const ran = await moat(['stop', '--config', gw.configFile]);
    assert.equal(ran.code, 0, ran.stderr);
    const again = await moat(['stop', '--config', gw.configFile]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no gateway is running on .*nothing was stopped/);
    const empty = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-stop-none-'));
    const end = holdUntilExit({ dir: empty });
    try {
      const none = await moat(['stop', '--set', `data_dir=${empty}`]);
      assert.equal(none.code, 2, none.stderr);
      assert.match(none.stderr, /no gateway is running on/);
    } finally { end(); }
  });

  it('takes --help and refuses an unknown option with 64', async () => {
    const help = await moat(['stop', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /usage: moat stop/);
    assert.equal((await moat(['stop', '--bogus'])).code, 64);
  });
});
