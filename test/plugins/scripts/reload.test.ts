// A changed script file is picked up on SIGHUP, by a gateway process whose config names it relative to its folder;
// a message whose script is running when the reload comes still gets its answer from the old script.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const version = (v: number) => `module.exports = (m) => {
  if (m.subject.startsWith('slow')) { const end = Date.now() + 1500; while (Date.now() < end) {} }
  return { addHeaders: [{ name: 'X-Script-Version', value: '${v}' }] };
};`;
const SYNTAX_ERROR = `module.exports = (m) => {
  const a = 1;
  const = 2;
};`;
const RUNTIME_ERROR = `module.exports = (m) => {
  const list = null;
  return { addHeaders: [{ name: 'X-Script-Version', value: String(list.length) }] };
};`;

async function send(port: number, subject: string): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello()).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<sender@example.org>')).code, 250);
    assert.equal((await c.cmd('RCPT TO:<rcpt@example.com>')).code, 250);
    return await c.data(testMessage({ subject }));
  } finally {
    await c.quit();
  }
}

describe('plugins/scripts reload', function () {
  this.timeout(60_000);
  let dataDir: string;
  let sink: Smarthost;
  let gw: SpawnedGateway;

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-reload-'));
    mkdirSync(path.join(dataDir, 'filters'));
    writeFileSync(path.join(dataDir, 'filters', 'tag.js'), version(1));
    sink = await startSmarthost();
    gw = await spawnGateway({ dataDir, config: { smarthost: `smtp://127.0.0.1:${sink.port}`, plugins: [{ name: 'scripts', scripts: ['filters/tag.js'], script_timeout: '5s' }] } });
  });
  after(async () => {
    await gw?.kill();
    await sink?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('runs the script named relative to the config file, then the changed file after SIGHUP; the call in flight finishes on the old one', async () => {
    assert.equal((await send(gw.port, 'first')).code, 250);
    assert.match(await sink.waitForText('Subject: first'), /^X-Script-Version: 1\r$/m);

    const slow = send(gw.port, 'slow-during-reload');
    await new Promise((r) => setTimeout(r, 500));
    writeFileSync(path.join(dataDir, 'filters', 'tag.js'), version(2));
    gw.child.kill('SIGHUP');
    const deadline = Date.now() + 20_000;
    while (!gw.output.join('').includes('"config reloaded"')) {
      assert.ok(Date.now() < deadline, `no reload:\n${gw.output.join('')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await slow).code, 250);
    assert.match(await sink.waitForText('Subject: slow-during-reload'), /^X-Script-Version: 1\r$/m);

    assert.equal((await send(gw.port, 'second')).code, 250);
    assert.match(await sink.waitForText('Subject: second'), /^X-Script-Version: 2\r$/m);
  });

  it('names a syntax error by file:line:column, the file as the config names it, and keeps the running script', async () => {
    writeFileSync(path.join(dataDir, 'filters', 'tag.js'), SYNTAX_ERROR);
    gw.child.kill('SIGHUP');
    await waitUntil(() => `the refusal in:\n${gw.output.join('')}`, () => gw.output.join('').includes("filters/tag.js:3:9: SyntaxError: Unexpected token '='"), 20_000);
    assert.match(gw.output.join(''), /config reload refused: a plugin cannot start/);
    assert.equal((await send(gw.port, 'after-refused')).code, 250);
    assert.match(await sink.waitForText('Subject: after-refused'), /^X-Script-Version: \d\r$/m);
  });

  it('names the script\'s own frames of a runtime error relative to the config\'s folder', async () => {
    const reloads = () => gw.output.join('').split('"config reloaded"').length - 1;
    const before = reloads();
    writeFileSync(path.join(dataDir, 'filters', 'tag.js'), RUNTIME_ERROR);
    gw.child.kill('SIGHUP');
    await waitUntil('the reload', () => reloads() > before, 20_000);
    assert.equal((await send(gw.port, 'runtime-error')).code, 451);
    await waitUntil(() => `the failure in:\n${gw.output.join('')}`, () => gw.output.join('').includes("TypeError: Cannot read properties of null (reading 'length'); at filters/tag.js:3:72 (module.exports)"));
  });
});
