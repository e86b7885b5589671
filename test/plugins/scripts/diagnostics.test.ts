// What a filter author reads in the gateway's log: a script's console lines (with the queue id, capped) and where in
// the file its errors are. Real SMTP sessions into a gateway, scripts in real sandbox processes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendOne } from '../clamav/fixtures.ts';

const CHATTY = `module.exports = function (m) {
  console.log('queue id', m.id, { subject: m.subject });
  if (m.subject === 'flood') for (let i = 0; i < 1000; i++) console.info('y'.repeat(10000), i);
  if (m.subject === 'throw') return first(null);
  return null;
};
function first(list) {
  return list[0];
}
`;

const SYNTAX = `module.exports = function (m) {
  const a = 1;
  const = 2;
};
`;

describe('plugins/scripts: console lines and error positions in the log', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let gw: TestGateway;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-diagnostics-'));
    end = holdUntilExit({ dir });
    writeFileSync(path.join(dir, 'chatty.js'), CHATTY);
    writeFileSync(path.join(dir, 'syntax.js'), SYNTAX);
    gw = await startGateway({ config: { plugins: [{ name: 'scripts', scripts: [path.join(dir, 'chatty.js')], pool_size: 1, script_timeout: '5s' }] } });
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
    end?.();
  });

  const send = (subject: string): Promise<SmtpReply> =>
    sendOne(gw.port, testMessage({ from: 'sender@example.org', to: 'rcpt@example.com', subject }));

  /** The queue id of the message with this Subject, from the line the script logged for it. */
  function queueIdOf(subject: string): Promise<string> {
    return waitFor(`the script's line for ${subject}`, () => gw.logs
      .find((l) => l.msg === 'filter script log' && String(l.line).endsWith(`{"subject":"${subject}"}`))?.qid as string | undefined);
  }

  it('logs console.log as a line with the script and the message\'s queue id', async () => {
    assert.equal((await send('hello')).code, 250);
    const qid = await queueIdOf('hello');
    const lines = gw.logs.filter((l) => l.msg === 'filter script log' && l.qid === qid);
    assert.deepEqual(lines.map((l) => [l.level, l.script, l.line]), [['info', path.join(dir, 'chatty.js'), `queue id ${qid} {"subject":"hello"}`]]);
  });

  it('keeps at most 20 lines of 500 characters per message, and says how many it dropped', async () => {
    assert.equal((await send('flood')).code, 250);
    const qid = await queueIdOf('flood');
    const cut = await waitFor('the cut line', () => gw.logs.find((l) => l.msg === 'filter script log cut' && l.qid === qid));
    assert.equal(cut.dropped, 981);
    assert.equal(cut.limit, '20 lines per message');
    const lines = gw.logs.filter((l) => l.msg === 'filter script log' && l.qid === qid).map((l) => String(l.line));
    assert.equal(lines.length, 20);
    assert.deepEqual(lines.slice(1).map((l) => l.length), Array(19).fill(500));
    assert.ok(lines.slice(1).every((l) => /^y+$/.test(l)));
  });

  it('names the script\'s own frames, file:line:column, in a runtime error', async () => {
    const r = await send('throw');
    assert.equal(r.code, 451, r.text);
    const qid = await queueIdOf('throw');
    const failed = await waitFor('the failure line', () => gw.logs.find((l) => l.msg === 'filter script failed' && l.qid === qid));
    const file = path.join(dir, 'chatty.js');
    assert.equal(failed.error, `TypeError: Cannot read properties of null (reading '0'); at ${file}:8:14 (first), ${file}:4:37 (module.exports)`);
  });

  it('refuses to start with a syntax error named by file:line:column', async () => {
    const file = path.join(dir, 'syntax.js');
    await assert.rejects(
      startGateway({ config: { plugins: [{ name: 'scripts', scripts: [file], pool_size: 1 }] } }),
      (e: Error) => e.message.includes(`${file}:3:9: SyntaxError: Unexpected token '='`) || assert.fail(e.message),
    );
  });
});
