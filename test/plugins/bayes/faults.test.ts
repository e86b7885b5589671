// The bayes plugin in a running gateway under the faults an admin meets: the dictionary file broken or moved away
// and the config reloaded with SIGHUP, the disk full when learned counts are flushed, and a dictionary that has
// learned nothing yet.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { spawnGateway, startRelayingGateway, type SpawnedGateway } from '../../helpers/gateway.ts';
import { startSmarthost, type Smarthost } from '../../helpers/smarthost.ts';
import { SmtpDialog, type SmtpReply } from '../../helpers/smtp-dialog.ts';
import { loadDictionary, saveDictionary, withLock, writeFileAtomic } from '../../../plugins/bayes/engine/persist.ts';
import { message, trainedFilter } from './fixtures.ts';
import { waitUntil } from '../../helpers/wait-for.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function send(port: number, raw: string, rcpts: string[]): Promise<SmtpReply> {
  const c = await SmtpDialog.connect(port);
  try {
    assert.equal((await c.hello({ xclient: { addr: '203.0.113.9' } })).code, 250);
    assert.equal((await c.cmd('MAIL FROM:<someone@sender.test>')).code, 250);
    for (const to of rcpts) assert.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250, to);
    return await c.data(raw);
  } finally {
    await c.quit();
  }
}

const bayesHeader = (raw: string): string[] =>
  raw.split('\r\n\r\n')[0].split(/\r\n(?![ \t])/).filter((l) => /^x-mailmoat-bayes:/i.test(l)).map((l) => l.slice(l.indexOf(':') + 1).trim());

/** The JSON log lines a spawned gateway wrote. */
function logsOf(gw: SpawnedGateway): Array<Record<string, unknown>> {
  return gw.output.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('bayes faults: the dictionary file broken or gone when the config is reloaded (SIGHUP)', function () {
  this.timeout(30_000);
  let dir: string;
  let sink: Smarthost;
  let whole: Buffer;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-faults-hup-'));
    sink = await startSmarthost();
    const good = path.join(dir, 'good.tab');
    await saveDictionary(good, trainedFilter().dict);
    whole = fs.readFileSync(good);
  });
  after(async () => {
    await sink.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function gatewayOn(dictionary: string, more: Record<string, unknown> = {}): Promise<SpawnedGateway> {
    return spawnGateway({
      dataDir: fs.mkdtempSync(path.join(dir, 'data-')),
      config: {
        smarthost: `smtp://127.0.0.1:${sink.port}`,
        plugins: [{ name: 'bayes', dictionary, min_learned: 10, honeypots: ['trap@example.com'], ...more }],
      },
    });
  }

  /** Sends SIGHUP and waits for the reload it causes to be logged. */
  async function hup(gw: SpawnedGateway): Promise<void> {
    const before = logsOf(gw).filter((l) => l.msg === 'config reloaded' || String(l.msg).startsWith('config reload refused')).length;
    gw.child.kill('SIGHUP');
    await waitUntil('the reload', () => logsOf(gw).filter((l) => l.msg === 'config reloaded' || String(l.msg).startsWith('config reload refused')).length > before, 15_000);
  }

  async function probabilityOf(gw: SpawnedGateway, subject: string, spam: boolean, seed: number): Promise<string[]> {
    const r = await send(gw.port, message({ spam, seed, subject }), ['bob@example.com']);
    assert.equal(r.code, 250, r.text);
    return bayesHeader(await sink.waitForText(subject));
  }

  it('keeps scoring with the running dictionary when the file became unreadable, and says so naming the file', async () => {
    const file = path.join(dir, 'unreadable.tab');
    fs.writeFileSync(file, whole);
    const gw = await gatewayOn(file, { seed: 'none' });
    try {
      const [p0] = await probabilityOf(gw, 'hup-before-1', true, 901);
      assert.ok(Number(p0) > 0.9, p0);
      fs.writeFileSync(file, '');
      await hup(gw);
      const after = await probabilityOf(gw, 'hup-after-1', true, 902);
      assert.equal(after.length, 1, 'still scored after the reload');
      assert.ok(Number(after[0]) > 0.9, after[0]);
      assert.ok(!logsOf(gw).some((l) => l.msg === 'plugin disabled'), 'the plugin stays on');
      const refused = logsOf(gw).find((l) => l.msg === 'bayes dictionary file refused');
      assert.ok(refused && refused.dictionary === file, JSON.stringify(refused));
    } finally {
      await gw.kill();
    }
  });

  it('keeps the running dictionary over a file cut short, instead of scoring with what is left of it', async () => {
    const file = path.join(dir, 'cut.tab');
    fs.writeFileSync(file, whole);
    const gw = await gatewayOn(file, { seed: 'none' });
    try {
      await probabilityOf(gw, 'hup-before-2', true, 903);
      // Cut inside the first line of counts: a reload from it would have almost nothing to score with.
      fs.writeFileSync(file, whole.subarray(0, whole.indexOf(0x0a) + 5));
      await hup(gw);
      const after = await probabilityOf(gw, 'hup-after-2', true, 904);
      assert.equal(after.length, 1);
      assert.ok(Number(after[0]) > 0.9, after[0]);
      const refused = logsOf(gw).find((l) => l.msg === 'bayes dictionary file refused');
      assert.ok(refused && /malformed/.test(String(refused.reason)), JSON.stringify(refused));
    } finally {
      await gw.kill();
    }
  });

  it('does not seed over a trained dictionary moved away before a reload: the next flush writes it back whole', async () => {
    const file = path.join(dir, 'moved.tab');
    fs.writeFileSync(file, whole);
    // The shipped seed is the default: copied into place, it would replace what this gateway learned.
    const gw = await gatewayOn(file, { flush_interval: '200ms' });
    try {
      await probabilityOf(gw, 'hup-before-3', true, 905);
      fs.renameSync(file, path.join(dir, 'moved-away.tab'));
      await hup(gw);
      await waitUntil('the file written back', () => fs.existsSync(file) && fs.statSync(file).size > 0, 15_000);
      const back = await loadDictionary(file);
      const trained = trainedFilter().dict;
      assert.deepEqual([back.nspam, back.nham, back.size], [trained.nspam, trained.nham, trained.size]);
      assert.ok(!logsOf(gw).some((l) => l.msg === 'bayes dictionary seeded'));
    } finally {
      await gw.kill();
    }
  });
});

describe('bayes faults: the disk full when learned counts are flushed', function () {
  this.timeout(30_000);
  let mnt = '';
  let mounted = false;

  before(() => {
    mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-faults-full-'));
    // A small filesystem of its own, so that filling it up fills nothing else.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    mounted = true;
  });
  after(() => {
    // A mount that failed leaves an empty dir, still removed.
    if (mounted) execFileSync('umount', [mnt]);
    fs.rmSync(mnt, { recursive: true, force: true });
  });

  it('removes a copy cut short by the full disk at once, each time a write is tried again', async () => {
    const file = path.join(mnt, 'direct.tab');
    fs.writeFileSync(file, Buffer.alloc(600_000, 0x61));
    const filler = path.join(mnt, 'filler');
    const free = fs.statfsSync(mnt).bavail * fs.statfsSync(mnt).bsize;
    fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free - 300_000)));
    try {
      for (let i = 0; i < 3; i++) await assert.rejects(withLock(file, () => writeFileAtomic(file, Buffer.alloc(600_000, 0x62))), { code: 'ENOSPC' });
      assert.deepEqual(fs.readdirSync(mnt).sort(), ['direct.tab', 'filler']);
      assert.equal(fs.readFileSync(file)[0], 0x61, 'the file is as it was');
    } finally {
      fs.rmSync(filler, { force: true });
      fs.rmSync(file, { force: true });
    }
  });

  it('leaves no half-written file, keeps what it learned, goes on taking mail, and writes it once there is room', async () => {
    const file = path.join(mnt, 'dictionary.tab');
    await saveDictionary(file, trainedFilter().dict);
    const size = fs.statSync(file).size;
    const gw = await startRelayingGateway({
      config: { plugins: [{ name: 'bayes', dictionary: file, seed: 'none', min_learned: 10, honeypots: ['trap@example.com'], flush_interval: '100ms' }] },
    });
    const filler = path.join(mnt, 'filler');
    try {
      // Leave less room than a new copy of the dictionary needs, but more than nothing.
      const free = fs.statfsSync(mnt).bavail * fs.statfsSync(mnt).bsize;
      fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free - (size >> 1))));
      for (let i = 0; i < 3; i++) {
        const r = await send(gw.port, message({ spam: i > 0, seed: 950 + i, subject: `full-${i}` }), [i > 0 ? 'trap@example.com' : 'ham@example.com', 'bob@example.com']);
        assert.equal(r.code, 250, r.text);
      }
      await gw.sink.waitFor(3);
      await waitUntil('a failed flush', () => gw.logs.some((l) => l.msg === 'bayes background task failed' || l.msg === 'bayes could not save learned counts'), 15_000);
      await sleep(500); // several more flush intervals, each trying again
      const leftovers = fs.readdirSync(mnt).filter((n) => n !== 'dictionary.tab' && n !== 'filler');
      assert.deepEqual(leftovers, [], 'no temporary or lock file is left behind');
      assert.equal((await loadDictionary(file)).nspam, 30, 'the file is as it was');
      fs.rmSync(filler);
      await waitUntil('the learned message written', async () => (await loadDictionary(file)).nspam === 31, 15_000);
      const warnings = gw.logs.filter((l) => l.msg === 'bayes background task failed');
      assert.ok(warnings.length >= 1 && warnings.every((w) => /ENOSPC|no space/i.test(String(w.error))), JSON.stringify(warnings[0]));
    } finally {
      await gw.stop();
      fs.rmSync(filler, { force: true });
    }
  });
});

describe('bayes faults: a dictionary that has learned nothing', function () {
  this.timeout(30_000);

  it('claims no probability and says so in the header', async () => {
    const gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', seed: 'none' }] } });
    try {
      for (const spam of [true, false]) {
        const subject = `empty-${spam}`;
        assert.equal((await send(gw.port, message({ spam, seed: 960, subject }), ['bob@example.com'])).code, 250);
        const raw = await gw.sink.waitForText(subject);
        assert.deepEqual(bayesHeader(raw), ['none; dictionary too small: 0 spam and 0 ham learned, 100 of each needed']);
        assert.doesNotMatch(raw, /BAYES_(SPAM|HAM)_/);
      }
    } finally {
      await gw.stop();
    }
  });
});

describe('bayes faults: a dictionary written by another version', function () {
  this.timeout(30_000);

  it('disables the plugin at start naming the file and the byte model kind it cannot read; mail still flows', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-faults-version-'));
    const file = path.join(dir, 'newer.tab');
    await saveDictionary(file, trainedFilter().dict);
    // A byte model line as a later version might write it: another kind, other fields.
    fs.appendFileSync(file, '#byte-grams\t5\t1024\t16\t60\t0\tAAAA\n');
    const gw = await startRelayingGateway({ config: { plugins: [{ name: 'bayes', dictionary: file, seed: 'none', min_learned: 10 }] } });
    try {
      const disabled = gw.logs.find((l) => l.msg === 'plugin disabled' && l.plugin === 'bayes');
      assert.match(String(disabled?.reason), new RegExp(`^bayes dictionary ${file} cannot be read: line \\d+: the byte model is of kind 5, and this version of mailmoat reads kind 4 only`));
      assert.equal((await send(gw.port, message({ spam: true, seed: 970, subject: 'version-1' }), ['bob@example.com'])).code, 250);
      assert.deepEqual(bayesHeader(await gw.sink.waitForText('version-1')), []);
    } finally {
      await gw.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
