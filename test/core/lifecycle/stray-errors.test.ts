// Errors nobody caught, in a real `moat start` process: a plugin's floating rejection or timer throw is logged as JSON
// with the plugin's name and counted, and the gateway goes on serving mail; a throw nobody can attribute to a plugin
// stops the gateway in order, with exit code 1, keeping what it acknowledged.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import nodemailer from 'nodemailer';
import { spawnGateway } from '../../helpers/gateway.ts';
import { logLines } from '../../helpers/spawned-log.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { controlRequest } from '../../../core/control/client.ts';
import { socketPath } from '../../../core/control/protocol.ts';
import { QueueStore } from '../../../core/queue/queue-store.ts';

const CORE = pathToFileURL(path.resolve('core/index.ts')).href;

/** A plugin whose data hook runs `body` and returns without waiting for what it started. */
function pluginModule(dir: string, name: string, body: string): string {
  const file = path.join(dir, `${name}.ts`);
  fs.writeFileSync(file, `
import { definePlugin, s } from ${JSON.stringify(CORE)};
export default definePlugin({
  name: ${JSON.stringify(name)}, description: 'test', configSchema: s.object({}),
  create: () => ({ hooks: { data: () => { ${body} } } }),
});
`);
  return file;
}

async function send(port: number, subject: string): Promise<string> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
  try {
    const info = await t.sendMail({ from: 'a@client.example', to: 'user@example.com', subject, text: 'hello' });
    return info.response;
  } finally { t.close(); }
}

describe('errors nobody caught, in a running gateway', function () {
  this.timeout(60_000);
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stray-errors-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('logs and counts a plugin\'s floating rejection and timer throw, and goes on serving mail', async () => {
    const module = pluginModule(dir, 'careless', `
      void Promise.reject(new Error('floating rejection x'));
      setTimeout(() => { throw new Error('timer throw y'); }, 10);`);
    const gw = await spawnGateway({ config: { plugins: [{ name: 'careless', module }] } });
    try {
      assert.match(await send(gw.port, 'first'), /^250 /);
      const lines = await waitFor('both error lines', () => {
        const found = logLines(gw).filter((l) => l.level === 'error' && (l.kind === 'unhandledRejection' || l.kind === 'uncaughtException'));
        return found.length >= 2 ? found : undefined;
      });
      const rejection = lines.find((l) => l.kind === 'unhandledRejection')!;
      const thrown = lines.find((l) => l.kind === 'uncaughtException')!;
      assert.equal(rejection.error, 'floating rejection x');
      assert.equal(rejection.plugin, 'careless');
      assert.match(String(rejection.stack), /careless\.ts/);
      assert.equal(thrown.error, 'timer throw y');
      assert.equal(thrown.plugin, 'careless');
      assert.equal(thrown.consequence, 'the gateway goes on');

      // Still serving: a new session gets its message accepted, and the counter says what happened.
      assert.match(await send(gw.port, 'second'), /^250 /);
      await waitFor('the second message\'s error lines', () => logLines(gw).filter((l) => l.level === 'error' && l.plugin === 'careless').length >= 4 || undefined);
      const metrics = await controlRequest(socketPath(gw.dataDir), { op: 'metrics' }, 10_000) as Record<string, number>;
      assert.ok(metrics.uncaught_errors >= 4, `uncaught_errors = ${metrics.uncaught_errors}`);
      assert.equal(gw.child.exitCode, null, 'the gateway process is still running');
      assert.ok(!gw.output.join('').includes('\n    at '), 'no raw stack printed outside the JSON lines');
    } finally {
      await gw.kill();
    }
    assert.match(gw.output.join(''), /"mailmoat stopped"/);
  });

  it('stops in order, exit code 1, on a throw that no plugin\'s file explains, keeping the message it acknowledged', async () => {
    // A thrown string has no stack, so nothing shows the core's state was left intact.
    const module = pluginModule(dir, 'opaque', `setTimeout(() => { throw 'no stack at all'; }, 300);`);
    const dataDir = path.join(dir, 'data');
    fs.mkdirSync(dataDir);
    const gw = await spawnGateway({ dataDir, config: { plugins: [{ name: 'opaque', module }] } });
    let code: number | null;
    try {
      assert.match(await send(gw.port, 'acknowledged before the throw'), /^250 /);
      code = await Promise.race([gw.exited, new Promise<'running'>((r) => setTimeout(() => r('running'), 20_000))]) as number | null;
    } finally {
      await gw.kill();
    }
    assert.equal(code, 1);
    const lines = logLines(gw);
    const fatal = lines.find((l) => l.kind === 'uncaughtException');
    assert.ok(fatal, 'the exception is logged as a JSON line');
    assert.equal(fatal.level, 'error');
    assert.equal(fatal.error, 'no stack at all');
    assert.match(String(fatal.consequence), /stops in order/);
    assert.ok(lines.some((l) => l.msg === 'mailmoat stopped'), 'the stop finished');
    // The file relay delivered it, or the queue keeps it for the next start.
    const delivered = fs.readdirSync(path.join(dataDir, 'delivered')).length;
    const queued = (await new QueueStore(dataDir).list('queue')).length;
    assert.equal(delivered + queued, 1);
  });
});
