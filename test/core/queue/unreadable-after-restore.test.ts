// An admin restores data_dir as root and one message's files stay root's while the gateway runs as its own user: the
// message is named in the log with its file and the fix, counted in queue_broken, listed by `moat queue list`, and,
// once chowned, picked up without a restart. moat doctor names the files too.
import assert from 'node:assert/strict';
import { chownSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { freePort } from '../../helpers/ports.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { createServiceUser, jsonLines, serviceFolders, type ServiceUser } from '../lifecycle/service-user.ts';
import { sendMail } from './send.ts';
import { capture } from '../../helpers/console-capture.ts';
import { run as doctorCli } from '../../../scripts/cli/doctor.ts';

describe('queue: messages the service user cannot read after a restore', function () {
  this.timeout(120_000);
  let user: ServiceUser;
  let root: string;
  let dataDir: string;
  let sink: Smarthost;
  let endDir: () => void;

  before(async () => {
    user = createServiceUser();
    ({ root, dataDir, end: endDir } = serviceFolders(user, 'mailmoat-restore-'));
    sink = await startSmarthost();
  });
  after(async () => {
    await sink?.stop();
    endDir?.();
    user?.remove();
  });

  function writeConfig(smarthostPort: number, httpPort: number): string {
    const file = path.join(root, 'mailmoat.yaml');
    writeFileSync(file, stringify({
      server: { hostname: 'mx.test.example', listen: [`127.0.0.1:${port}`] },
      domains: ['example.com'], data_dir: dataDir, smarthost: `smtp://127.0.0.1:${smarthostPort}`,
      queue: { retry_schedule: ['1s'], lifetime: '1h' },
      http: { listen: [`127.0.0.1:${httpPort}`] },
      dns: { servers: ['127.0.0.1:9'] },
      log: { level: 'info', format: 'json' },
    }), { mode: 0o644 });
    return file;
  }
  let port: number;

  it('warns with the id, file and chown fix, counts and lists the message, and delivers it after a chown and a reload', async () => {
    port = await freePort();
    const httpPort = await freePort();
    // First run: a smarthost that is not there, so both messages wait in files of their own.
    const closed = await freePort();
    const first = user.start(writeConfig(closed, httpPort));
    await waitFor(() => `first start:\n${first.output.join('')}`, () => first.output.join('').includes('"mailmoat started"') || undefined, 30_000);
    const a = await sendMail(port, { from: 'ann@client.example', to: ['bob@example.com'], subject: 'kept readable' });
    const b = await sendMail(port, { from: 'ann@client.example', to: ['bob@example.com'], subject: 'restored as root' });
    assert.equal(a.code, 250); assert.equal(b.code, 250);
    const queueDir = path.join(dataDir, 'queue');
    await waitFor('both messages in files of their own after a deferral', () => readdirSync(queueDir).filter((n) => n.endsWith('.json')).length === 2 || undefined, 20_000);
    await first.stop();

    // The restore: one message's files are root's again (mode 0600, as the gateway writes them).
    for (const n of readdirSync(queueDir).filter((f) => f.startsWith(`${b.queueId}.`))) chownSync(path.join(queueDir, n), 0, 0);

    const gw = user.start(writeConfig(sink.port, httpPort));
    try {
      await waitFor(() => `second start:\n${gw.output.join('')}`, () => gw.output.join('').includes('"mailmoat started"') || undefined, 30_000);
      const lines = jsonLines(gw.output);
      const warned = lines.find((l) => l.msg === 'queued message cannot be read; it is tried again every few minutes');
      assert.ok(warned, gw.output.join(''));
      assert.equal(warned.level, 'warn');
      assert.equal(warned.qid, b.queueId);
      assert.match(String(warned.path), new RegExp(`${b.queueId}\\.(json|eml)$`));
      assert.match(String(warned.reason), new RegExp(`^EACCES: .*chown -R ${user.name}: ${dataDir}$`));
      assert.equal(lines.find((l) => l.msg === 'queue recovered')?.broken, 1);

      await sink.waitForText('kept readable', 20_000);
      const metrics = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      assert.match(metrics, /^mailmoat_queue_broken 1$/m);

      const listed = await user.moat(['queue', 'list', '--config', path.join(root, 'mailmoat.yaml')]);
      assert.equal(listed.code, 1, listed.stdout + listed.stderr);
      assert.match(listed.stdout, new RegExp(`^${b.queueId}  unreadable .*EACCES.*chown -R ${user.name}: `, 'm'));
      const asJson = await user.moat(['queue', 'list', '--json', '--config', path.join(root, 'mailmoat.yaml')]);
      assert.deepEqual((JSON.parse(asJson.stdout) as Array<{ id: string; state: string }>).map((r) => [r.id, r.state]), [[b.queueId, 'unreadable']]);

      const doctor = await user.moat(['doctor', '--config', path.join(root, 'mailmoat.yaml')]);
      assert.equal(doctor.code, 1);
      assert.match(doctor.stdout, new RegExp(`^FAIL data_dir: ${queueDir}/${b.queueId}\\.(json|eml): EACCES`, 'm'));
      assert.match(doctor.stdout, new RegExp(`^FAIL data_dir: .*run \`chown -R ${user.name}: ${dataDir}\`$`, 'm'));

      // A file the user owns with mode 000 (a restore that lost the modes) is mended by chmod, which doctor then says.
      const modeless = path.join(dataDir, 'restored-mode-000');
      writeFileSync(modeless, 'x', { mode: 0 });
      chownSync(modeless, user.uid, user.gid);
      const asUser = await user.moat(['doctor', '--config', path.join(root, 'mailmoat.yaml')]);
      assert.match(asUser.stdout, new RegExp(`^FAIL data_dir: ${modeless}: EACCES: .*owned by ${user.name}`, 'm'));
      assert.match(asUser.stdout, new RegExp(`^FAIL data_dir: .*run \`chown -R ${user.name}: ${dataDir}\` and \`chmod -R u\\+rwX ${dataDir}\``, 'm'));
      // Run as root, doctor goes by owner and mode.
      const asRoot = await capture(() => doctorCli(['--config', path.join(root, 'mailmoat.yaml')]));
      assert.match(asRoot.out, new RegExp(`^FAIL data_dir: ${modeless}: mode 0000: ${user.name} may not read or write it`, 'm'));
      rmSync(modeless);

      // The admin mends the owner and reloads: the message goes without a restart.
      for (const n of readdirSync(queueDir).filter((f) => f.startsWith(`${b.queueId}.`))) chownSync(path.join(queueDir, n), user.uid, user.gid);
      const reload = await user.moat(['reload', '--config', path.join(root, 'mailmoat.yaml')]);
      assert.equal(reload.code, 0, reload.stdout + reload.stderr);
      await sink.waitForText('restored as root', 20_000);
      await waitFor('the scheduled line', () => jsonLines(gw.output).find((l) => l.msg === 'queued message can be read again: scheduled' && l.qid === b.queueId), 10_000);
      const after = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
      assert.match(after, /^mailmoat_queue_broken 0$/m);
    } finally {
      await gw.stop();
    }
    rmSync(path.join(root, 'mailmoat.yaml'));
  });
});
