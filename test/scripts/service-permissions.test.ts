// The gateway run as a service user after a restore as root, with only data_dir's top folder chowned back: moat
// doctor walks the folder and names what that user cannot use, with the chown that mends it, whether it runs as the
// user or as root; the start's permission error says the same; and a port below 1024 without the capability says how
// to grant it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { stringify } from 'yaml';
import { freePort } from '../helpers/ports.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { createServiceUser, serviceFolders, type ServiceUser } from '../core/lifecycle/service-user.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', 'scripts', 'moat.js');

function moatAsRoot(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd: '/', timeout: 60_000 }, (err, stdout) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout });
    });
  });
}

describe('moat doctor and moat start: data_dir restored as root, ports below 1024', function () {
  this.timeout(120_000);
  let user: ServiceUser;
  let root: string;
  let dataDir: string;
  let endDir: () => void;
  const config = (file: string, listen: string) => {
    writeFileSync(file, stringify({
      server: { hostname: 'mx.test.example', listen: [listen] }, domains: ['example.com'], data_dir: dataDir,
      dns: { servers: ['127.0.0.1:9'] }, log: { level: 'info', format: 'json' },
    }), { mode: 0o644 });
    return file;
  };

  before(() => {
    user = createServiceUser();
    ({ root, dataDir, end: endDir } = serviceFolders(user, 'mailmoat-perm-'));
  });
  after(() => {
    endDir?.();
    user?.remove();
  });

  it('names the files the user cannot use and the chown -R that mends them; the start fails saying the same', async () => {
    const file = config(path.join(root, 'a.yaml'), `127.0.0.1:${await freePort()}`);
    // A first run makes what the gateway keeps (the queue folders, the key, the self-signed certificate).
    const first = user.start(file);
    await waitFor(() => `first start:\n${first.output.join('')}`, () => first.output.join('').includes('"mailmoat started"') || undefined, 30_000);
    await first.stop();
    assert.ok(existsSync(path.join(dataDir, 'tls', 'self-signed.key')));

    const clean = await user.moat(['doctor', '--config', file]);
    assert.doesNotMatch(clean.stdout, /^FAIL data_dir/m, clean.stdout);

    // The restore: everything root's, then only the top folder given back.
    execFileSync('chown', ['-R', 'root:root', dataDir]);
    chownSync(dataDir, user.uid, user.gid);

    const doctor = await user.moat(['doctor', '--config', file]);
    assert.equal(doctor.code, 1);
    assert.match(doctor.stdout, new RegExp(`^ok   data_dir: ${dataDir}: .* free`, 'm'));
    assert.match(doctor.stdout, new RegExp(`^FAIL data_dir: ${dataDir}/\\S+: EACCES: ${user.name} may not .* \\(owned by root\\)$`, 'm'));
    assert.match(doctor.stdout, new RegExp(`^FAIL data_dir: ${dataDir} holds files or folders ${user.name} cannot use: .*run \`chown -R ${user.name}: ${dataDir}\`$`, 'm'));

    // Root passes every access check: doctor run as root goes by data_dir's owner instead.
    const byRoot = await moatAsRoot(['doctor', '--config', file]);
    assert.equal(byRoot.code, 1);
    assert.match(byRoot.stdout, new RegExp(`^FAIL data_dir: ${dataDir}/\\S+: owned by root, not ${user.name}$`, 'm'));
    assert.match(byRoot.stdout, new RegExp(`run \`chown -R ${user.name}: ${dataDir}\``));

    const start = user.start(file);
    assert.equal(await start.exited, 1);
    assert.match(start.output.join(''), new RegExp(`^moat start: EACCES: permission denied, .*: data_dir ${dataDir} holds files this user \\(${user.name}\\) cannot use .*run \`chown -R ${user.name}: ${dataDir}\` \\(moat doctor lists them\\)$`, 'm'));

    // Mended as the message says: doctor passes and the gateway starts.
    execFileSync('chown', ['-R', `${user.name}:`, dataDir]);
    const mended = await user.moat(['doctor', '--config', file]);
    assert.doesNotMatch(mended.stdout, /^FAIL data_dir/m, mended.stdout);
    const again = user.start(file);
    await waitFor(() => `start after the chown:\n${again.output.join('')}`, () => again.output.join('').includes('"mailmoat started"') || undefined, 30_000);
    await again.stop();
  });

  it('says to grant CAP_NET_BIND_SERVICE when a port below 1024 is refused', async () => {
    // Any port below 1024 will do: the kernel refuses the bind before it looks whether the port is taken.
    const file = config(path.join(root, 'b.yaml'), '127.0.0.1:587');
    const start = user.start(file);
    assert.equal(await start.exited, 1);
    assert.match(start.output.join(''), /^moat start: cannot listen on 127\.0\.0\.1:587 \(smtp\): listen EACCES: .*: only root or a process with CAP_NET_BIND_SERVICE may listen on a port below 1024; grant it with AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit, or `setcap cap_net_bind_service=\+ep` on the node binary$/m);
  });
});
