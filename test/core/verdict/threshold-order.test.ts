// The verdict tries reject, quarantine, tempfail, then add_header, and the first threshold reached wins: a threshold at
// or above one tried before it can never apply, so such a `scores:` is refused at start, reload and check-config, naming
// the keys. Thresholds in order, or turned off with null, load as before.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify } from 'yaml';
import { ConfigError, loadConfig, validateConfig } from '../../../core/config/load.ts';
import { decideVerdict } from '../../../core/verdict/verdict.ts';
import { THRESHOLD_PRECEDENCE, thresholdOrderIssues } from '../../../core/verdict/thresholds.ts';
import type { Finding } from '../../../core/verdict/types.ts';
import { spawnGateway, type SpawnedGateway } from '../../helpers/gateway.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function moat(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MOAT, ...args], { cwd, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

async function issuesOf(scores: Record<string, unknown>): Promise<Array<{ path: string; message: string }>> {
  try { await validateConfig({ scores }); } catch (e) { if (e instanceof ConfigError) return e.issues; throw e; }
  return [];
}

const REVIEWED = { add_header: 20, quarantine: 30, reject: 5, tempfail: 2 };

describe('the order of the score thresholds', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'mailmoat-thresholds-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('is the order the verdict tries them in: a quarantine under a lower reject is never reached', () => {
    assert.deepEqual(THRESHOLD_PRECEDENCE, ['reject', 'quarantine', 'tempfail', 'add_header']);
    const scores = { ...REVIEWED, levels: { low: 5, medium: 8, high: 12 }, subject_tag: '', max_per_plugin: {}, reject_text: '', tempfail_text: '' };
    const f = (score: number): Finding => ({ symbol: 'S', score, plugin: 'test' });
    // Every total at or above a threshold that is out of order lands on an action tried before it.
    assert.equal(decideVerdict([f(35)], scores).action, 'reject');
    assert.equal(decideVerdict([f(25)], scores).action, 'reject');
    assert.equal(decideVerdict([f(3)], scores).action, 'tempfail');
  });

  it('refuses thresholds an earlier action shadows, naming each key, what shadows it and what to set', async () => {
    const issues = await issuesOf(REVIEWED);
    assert.deepEqual(issues.map((i) => i.path), ['scores.quarantine', 'scores.add_header']);
    assert.match(issues[0].message, /^30 can never apply: a total of 30 or more already reaches scores\.reject \(5\), tried before it \(order: reject, quarantine, tempfail, add_header\); set it below 5, or null to turn it off$/);
    assert.match(issues[1].message, /^20 can never apply: .*scores\.reject \(5\) and scores\.tempfail \(2\).*; set it below 2, or null to turn it off$/);
  });

  it('refuses equal thresholds, where the action tried first always wins', async () => {
    assert.deepEqual((await issuesOf({ quarantine: 10, tempfail: 10 })).map((i) => i.path), ['scores.tempfail']);
    // add_header's default (5) under a reject of 5: turning add_header off is the way out.
    assert.deepEqual((await issuesOf({ reject: 5 })).map((i) => i.path), ['scores.add_header']);
    assert.deepEqual(await issuesOf({ reject: 5, add_header: null }), []);
  });

  it('takes thresholds in order, and any of them turned off', async () => {
    assert.deepEqual(await issuesOf({}), []);
    assert.deepEqual(await issuesOf({ add_header: 5, tempfail: 8, quarantine: 10, reject: 15 }), []);
    assert.deepEqual(await issuesOf({ add_header: 2, tempfail: 5, reject: 20 }), []);
    assert.deepEqual(await issuesOf({ reject: null, quarantine: 30, add_header: 20 }), []);
    assert.deepEqual(await issuesOf({ add_header: -2, reject: -1 }), []);
  });

  it('refuses spam levels out of order, a level no score would show', async () => {
    const issues = await issuesOf({ levels: { low: 9, medium: 8, high: 12 } });
    assert.deepEqual(issues.map((i) => i.path), ['scores.levels.low']);
    assert.match(issues[0].message, /^9 can never apply: .*scores\.levels\.medium \(8\).*; set it below 8$/);
    assert.deepEqual(thresholdOrderIssues({ levels: { low: 1, medium: 2, high: 3 } }, 'scores'), []);
  });

  it('makes check-config and the start exit 1 naming the keys, and --set can cause it too', async () => {
    const file = path.join(dir, 'mailmoat.yaml');
    writeFileSync(file, stringify({ data_dir: './data', scores: REVIEWED }));
    const check = await moat(['check-config', '--config', file], dir);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stderr, /^ {2}scores\.quarantine: 30 can never apply/m);
    assert.match(check.stderr, /^ {2}scores\.add_header: 20 can never apply/m);
    const start = await moat(['start', '--config', file], dir);
    assert.equal(start.code, 1, start.stdout + start.stderr);
    assert.match(start.stderr, /^ {2}scores\.quarantine: 30 can never apply/m);
    writeFileSync(file, 'data_dir: ./data\n');
    await assert.rejects(loadConfig({ file, overrides: ['scores.reject=3'] }), /scores\.add_header: 5 can never apply/);
  });

  describe('in a reload of a running gateway', () => {
    let gw: SpawnedGateway;
    before(async () => { gw = await spawnGateway({ config: { scores: { add_header: 5, quarantine: 10, reject: 15 } } }); });
    after(async () => { await gw?.kill(); });

    it('is refused with the keys named, the gateway keeping its running config', async () => {
      writeFileSync(gw.configFile, stringify({
        server: { listen: [`127.0.0.1:${gw.port}`] }, data_dir: gw.dataDir, domains: ['example.com'], scores: REVIEWED,
      }));
      const r = await moat(['reload', '--config', gw.configFile], dir);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /^refused: /);
      assert.match(r.stderr, /^ {2}scores\.quarantine: 30 can never apply/m);
      assert.match(r.stderr, /^ {2}scores\.add_header: 20 can never apply/m);
    });
  });
});
