// Haraka plugins that leave things running, in a real `moat start` stopped by `moat stop`: the process exits once its
// orderly stop is over, as Haraka always does. A plain plugin's leftover timer is cleared by the shim, which names the
// plugin; what a package leaves (its own setInterval, a socket it never closes) is ended by the exit, which says what
// was still open.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { logLines } from '../../helpers/spawned-log.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

const TICKING = `
exports.register = function () { this.tick = setInterval(() => { this.ticks = (this.ticks || 0) + 1 }, 60000) }
exports.hook_mail = function (next) { next() }
`;

/** A package plugin (required normally, so its timers are the process's own) holding a socket and an interval. */
function lingeringPackage(port: number): string {
  return `
const net = require('node:net')
exports.register = function () {
  this.socket = net.connect(${port}, '127.0.0.1')
  this.socket.on('error', () => {})
  setInterval(() => {}, 60000)
  this.register_hook('rcpt', 'hook_rcpt')
}
exports.hook_rcpt = function (next) { next() }
`;
}

function moatStop(configFile: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, 'stop', '--config', configFile], { cwd: os.tmpdir() }, (err, _out, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stderr });
    });
  });
}

describe('haraka shim: moat start exits after moat stop even when plugins leave things running', function () {
  this.timeout(60_000);
  let base: string;
  let release: () => void;
  let holder: net.Server;
  let held: net.Socket[];
  let gw: SpawnedGateway | undefined;

  before(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'haraka-left-open-'));
    release = holdUntilExit({ dir: base });
    held = [];
    holder = net.createServer((s) => { held.push(s); s.on('error', () => undefined); });
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  });
  afterEach(async () => {
    await gw?.kill('SIGKILL');
    gw = undefined;
  });
  after(async () => {
    for (const s of held) s.destroy();
    await new Promise((r) => holder.close(r));
    fs.rmSync(base, { recursive: true, force: true });
    release();
  });

  function folder(name: string, plugins: string[], withPackage: boolean): string {
    const dir = path.join(base, name);
    fs.mkdirSync(path.join(dir, 'config'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'plugins'));
    fs.writeFileSync(path.join(dir, 'config', 'plugins'), `${plugins.join('\n')}\n`);
    fs.writeFileSync(path.join(dir, 'plugins', 'ticking.js'), TICKING);
    if (withPackage) {
      const pkg = path.join(dir, 'node_modules', 'haraka-plugin-lingering');
      fs.mkdirSync(pkg, { recursive: true });
      fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'haraka-plugin-lingering', version: '1.0.0', main: 'index.js' }));
      fs.writeFileSync(path.join(pkg, 'index.js'), lingeringPackage((holder.address() as net.AddressInfo).port));
    }
    return dir;
  }

  it('a plain plugin\'s interval is cleared at shutdown, named, and the process exits by itself', async () => {
    gw = await spawnGateway({ config: { plugins: [{ name: 'haraka', dir: folder('plain', ['ticking'], false) }] } });
    const stopped = await moatStop(gw.configFile);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(await gw.exited, 0);
    const lines = logLines(gw);
    const cleared = lines.find((l) => l.haraka_plugin === 'ticking' && /left 1 timer\(s\) running after its shutdown: cleared/.test(String(l.msg)));
    assert.ok(cleared, 'the shim names the plugin whose timer it cleared');
    assert.equal(cleared.level, 'warn');
    assert.ok(lines.some((l) => l.msg === 'mailmoat stopped'));
    // Nothing was left for the exit to end.
    assert.ok(!lines.some((l) => /^exiting: something a plugin opened/.test(String(l.msg))));
  });

  it('a package\'s socket and interval do not hold the process: it exits 0 and says what was still open', async () => {
    const dir = folder('package', ['ticking', 'lingering'], true);
    gw = await spawnGateway({ config: { plugins: [{ name: 'haraka', dir }] } });
    // The package's socket reached the test's listener: it is really open.
    await waitUntil('the package plugin\'s connection', () => held.length > 0);
    const stopped = await moatStop(gw.configFile);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(await gw.exited, 0);
    const lines = logLines(gw);
    const stoppedAt = lines.findIndex((l) => l.msg === 'mailmoat stopped');
    const exiting = lines.findIndex((l) => /^exiting: something a plugin opened was still open after the stop/.test(String(l.msg)));
    assert.ok(stoppedAt >= 0 && exiting > stoppedAt, 'the exit comes after the orderly stop');
    assert.match(String(lines[exiting].open), /Timeout ×1/);
    assert.match(String(lines[exiting].open), /TCPSocketWrap ×1/);
  });
});
