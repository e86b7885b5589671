// A script's result and the 64 K result cap: what the README says is cut (a finding's detail, an action's text) is cut
// before the size is measured, so a detail copied from a long body passes; a result still too large names the field
// that holds most of it. Real SMTP sessions into a gateway, the script in real sandbox processes.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { testMessage, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { sendOne } from '../clamav/fixtures.ts';

const COPIES = `module.exports = function (msg) {
  switch (msg.subject) {
    case 'offer': return { findings: [{ symbol: 'OFFER', score: 2, detail: msg.text }] };
    case 'fifty': return { findings: Array.from({ length: 50 }, (_, i) => ({ symbol: 'OFFER_' + i, score: 0.1, detail: msg.text })) };
    case 'refuse': return { action: { type: 'reject', text: msg.text } };
    case 'header': return { addHeaders: [{ name: 'X-A', value: 'a' }, { name: 'X-B', value: 'b' }, { name: 'X-Copy', value: msg.text }] };
    default: return null;
  }
};
`;

/** About 75 KB of text lines, each numbered, so a cut shows where it fell. */
const LONG_BODY = Array.from({ length: 1500 }, (_, i) => `Special offer line ${String(i).padStart(4, '0')}: buy now and save a lot.`).join('\r\n') + '\r\n';

describe('plugins/scripts: the result cap and what is cut before it', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let gw: TestGateway;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-scripts-result-size-'));
    end = holdUntilExit({ dir });
    writeFileSync(path.join(dir, 'copies.js'), COPIES);
    gw = await startGateway({ config: { plugins: [{ name: 'scripts', scripts: [path.join(dir, 'copies.js')], pool_size: 1, script_timeout: '5s' }] } });
  });
  after(async () => {
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
    end?.();
  });

  const send = (subject: string): Promise<SmtpReply> =>
    sendOne(gw.port, testMessage({ from: 'sender@example.org', to: 'rcpt@example.com', subject, body: LONG_BODY }));

  /** The summary line of the message whose script findings begin with SCRIPT_<subject>. */
  const summaryOf = (subject: string) => waitFor(`the summary line of ${subject}`, () =>
    gw.logs.find((l) => l.msg === 'message' && Array.isArray(l.symbols) && (l.symbols as string[]).some((s) => s.startsWith(`SCRIPT_${subject.toUpperCase()}`))));

  it('relays a message whose finding copies a 75 KB body into its detail, the detail cut at 200 characters', async () => {
    assert.ok(LONG_BODY.length > 70_000);
    const r = await send('offer');
    assert.equal(r.code, 250, r.text);
    const line = await summaryOf('offer');
    assert.deepEqual(line.symbols, ['SCRIPT_OFFER(2)']);
    // The summary line shows 160 of the detail's characters; the detail begins with the body's first lines, line breaks made spaces.
    assert.match(String((line.details as string[])[0]), /^SCRIPT_OFFER: Special offer line 0000: buy now and save a lot\. Special offer line 0001: /);
    assert.ok(!gw.logs.some((l) => l.msg === 'filter script failed'), 'no script failure');
  });

  it('relays 50 findings that each copy the body: 50 details of 200 characters fit the cap', async () => {
    const r = await send('fifty');
    assert.equal(r.code, 250, r.text);
    const line = await summaryOf('offer_');
    assert.equal((line.symbols as string[]).length, 50);
  });

  it('refuses with the action\'s text cut at 200 characters', async () => {
    const r = await send('refuse');
    assert.equal(r.code, 550, r.text);
    const text = r.text.replace(/^5\.7\.1 /, '');
    assert.equal(text.length, 200);
    assert.ok(text.startsWith('Special offer line 0000: buy now and save a lot. Special offer line 0001'), text);
  });

  it('defers a result still past the cap (a 64 KB header value), and the log names the field that holds it', async () => {
    const r = await send('header');
    assert.equal(r.code, 451, r.text);
    assert.match(r.text, /^4\.3\.0 Message filter temporarily unavailable/);
    const failed = await waitFor('the failure line', () => gw.logs.find((l) => l.msg === 'filter script failed'));
    assert.match(String(failed.error), /^the result is larger than 65536 characters \(\d+\): addHeaders\[2\]\.value holds \d+ of them$/);
  });
});
