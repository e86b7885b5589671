// The worked example of core/plugin/README.md (subject-words-plugin.ts) in a real gateway: its finding reaches the
// verdict header, a list saved by renaming a new file over the old one is read again, its counter counts, its log
// line carries the session's cid and qid, and close() ends its watch.
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRelayingGateway, type RelayingGateway } from '../../helpers/gateway.ts';
import { holdUntilExit } from '../../helpers/leftovers.ts';
import { sendMail } from '../queue/send.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import example from './subject-words-plugin.ts';

const EXAMPLE = path.join(import.meta.dirname, 'subject-words-plugin.ts');

/** How many fs.watch handles the process holds. */
const watches = () => process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length;

describe('the plugin README\'s worked example', function () {
  this.timeout(60_000);
  let dir: string;
  let end: () => void;
  let list: string;
  let gw: RelayingGateway;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-words-'));
    end = holdUntilExit({ dir });
    list = path.join(dir, 'words.txt');
    writeFileSync(list, '# words that cost a message points\nwinner\n');
    gw = await startRelayingGateway({ config: { plugins: [{ name: 'subject-words', module: EXAMPLE, file: list, reload_delay: '50ms' }] } });
  });
  after(async () => {
    await gw?.stop();
    end();
  });

  /** Sends a message with this Subject and returns the header section it was relayed with. */
  async function send(subject: string): Promise<string> {
    const sent = await sendMail(gw.port, { from: 'someone@client.example', to: ['ann@example.com'], subject });
    assert.equal(sent.code, 250, sent.text);
    const raw = await gw.sink.waitForText(`Subject: ${subject}`);
    return raw.slice(0, raw.indexOf('\r\n\r\n'));
  }

  it('scores a listed word, counts it, and logs it with the session\'s cid and qid', async () => {
    const header = await send('You are a WINNER');
    assert.match(header, /^X-Mailmoat-Verdict: .*symbols=SUBJECT_WORD\(3\)/m);
    const counters = gw.gateway.runtime.metrics.snapshot().plugins as Record<string, number> | undefined;
    assert.equal(counters?.subject_words_hits, 1);
    const line = gw.logs.findLast((l) => l.msg === 'listed word in the Subject');
    assert.equal(line?.plugin, 'subject-words');
    assert.equal(line?.word, 'winner');
    assert.match(String(line?.cid), /./);
    assert.match(String(line?.qid), /./);
  });

  it('reads the list again once an editor has saved it, by a rename over the old file', async () => {
    const next = path.join(dir, 'words.txt.new');
    writeFileSync(next, 'winner\nlottery\n');
    renameSync(next, list);
    await waitFor('the list read again', () => gw.logs.find((l) => l.msg === 'word list read again' && l.words === 2));
    const header = await send('Your lottery ticket');
    assert.match(header, /^X-Mailmoat-Verdict: .*symbols=SUBJECT_WORD\(3\)/m);
  });

  it('ends its watch in close()', async () => {
    const before = watches();
    const instance = await example.create({ file: list, score: 3, reload_delay: 50 }, {
      log: gw.gateway.runtime.log, services: gw.gateway.runtime.services, projectDir: dir, configDir: dir,
    });
    assert.equal(watches(), before + 1);
    await instance.close?.();
    // A handle closed is let go of in a later turn of the event loop.
    await waitFor('the watch to end', () => (watches() === before ? true : undefined));
  });
});
