// The bayes plugin's options: combinations that cannot work (a band never chosen, a symbol with two scores, an address
// that matches no recipient or is both honeypot and ham, learning thresholds that learn everything) are refused with
// their key path, as an out-of-range value is; settings that only look odd are kept.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configSchema, DEFAULT_BANDS } from '../../../plugins/bayes/config.ts';
import { addressMatcher } from '../../../plugins/bayes/auto-train.ts';
import { documentSchema } from '../../../core/config/schema.ts';

const MOAT = path.resolve(import.meta.dirname, '..', '..', '..', 'scripts', 'moat.js');

function issuesOf(options: Record<string, unknown>): string[] {
  const issues: Array<{ path: string; message: string }> = [];
  configSchema.parse(options, 'plugins[0]', issues);
  return issues.map((i) => `${i.path}: ${i.message}`);
}

describe('bayes config', () => {
  it('accepts the defaults and ordinary settings', () => {
    assert.deepEqual(issuesOf({}), []);
    assert.deepEqual(issuesOf({
      honeypots: ['trap@example.com', '@spamtrap.example.com', ' Trap2@Example.com '], ham_addresses: ['archive@example.com', '@ham.example'],
      learn_spam_score: 10, learn_ham_score: -1,
    }), []);
  });

  it('keeps bands without a min-0 band, and a symbol in two bands with one score: odd, not broken', () => {
    // Below the lowest band a message gets no bayes finding (no score), which only-flag-spam setups want.
    assert.deepEqual(issuesOf({ bands: [{ min: 0.9, symbol: 'BAYES_SPAM', score: 3 }] }), []);
    assert.deepEqual(issuesOf({ bands: [{ min: 0.9, symbol: 'BAYES_X', score: 3 }, { min: 0, symbol: 'BAYES_X', score: 3 }] }), []);
  });

  it('refuses two bands with the same min, naming the one never chosen', () => {
    const bands = [...DEFAULT_BANDS, { min: 0.9, symbol: 'BAYES_ALSO_90', score: 2 }];
    assert.deepEqual(issuesOf({ bands }), [
      'plugins[0].bands[6].min: 0.9 is also the min of bands[1] (BAYES_SPAM_90): of two bands with one min the first is chosen, so BAYES_ALSO_90 never would be',
    ]);
  });

  it('refuses one symbol with two scores', () => {
    const bands = [{ min: 0.9, symbol: 'BAYES_HIGH', score: 3 }, { min: 0.5, symbol: 'BAYES_HIGH', score: 1 }, { min: 0, symbol: 'BAYES_LOW', score: 0 }];
    assert.deepEqual(issuesOf({ bands }), ['plugins[0].bands[1].score: BAYES_HIGH has the score 3 in bands[0]: a symbol has one score']);
  });

  it('refuses honeypot and ham entries that can match no recipient', () => {
    const entries = ['spamtrap.example.com', 'trap', '', 'a@b@example.com', 'trap@'];
    // What auto-train.ts would make of them: none matches any address the front door accepts.
    const matches = addressMatcher(entries);
    assert.equal(['trap@spamtrap.example.com', 'x@example.com', 'trap@example.com'].some(matches), false);
    assert.deepEqual(issuesOf({ honeypots: entries, ham_addresses: ['  '] }), [
      'plugins[0].honeypots[0]: "spamtrap.example.com" has no @, so it matches no recipient: write "user@spamtrap.example.com" for one address or "@spamtrap.example.com" for every address of the domain',
      'plugins[0].honeypots[1]: "trap" has no @, so it matches no recipient: write "user@trap" for one address or "@trap" for every address of the domain',
      'plugins[0].honeypots[2]: is empty, so it matches no recipient',
      'plugins[0].honeypots[3]: "a@b@example.com" has more than one @, so it matches no recipient',
      'plugins[0].honeypots[4]: "trap@" has no domain after the @, so it matches no recipient: write "user@example.com" for one address or "@example.com" for every address of the domain',
      'plugins[0].ham_addresses[0]: is empty, so it matches no recipient',
    ]);
  });

  it('refuses a ham address that is also a honeypot, or in a honeypot domain', () => {
    assert.deepEqual(issuesOf({ honeypots: ['Trap@example.com', '@spam.example'], ham_addresses: ['ok@example.com', 'trap@example.com', 'news@spam.example'] }), [
      'plugins[0].ham_addresses[1]: "trap@example.com" is also honeypots[0] ("Trap@example.com"): mail to it is always learned as spam',
      'plugins[0].ham_addresses[2]: "news@spam.example" is also honeypots[1] ("@spam.example"): mail to it is always learned as spam',
    ]);
  });

  it('refuses a band min finer than the probability is shown, a band named as the lesson\'s finding, and intervals of 0', () => {
    assert.deepEqual(issuesOf({ bands: [{ min: 0.99995, symbol: 'BAYES_TOP', score: 5 }, { min: 0.9, symbol: 'BAYES_LESSON', score: 3 }, { min: 0.0001, symbol: 'BAYES_LOW', score: 0 }] }), [
      'plugins[0].bands[0].min: 0.99995 has more than 4 decimals: the probability is shown in X-Mailmoat-Bayes, and put in its band, with 4',
      'plugins[0].bands[1].symbol: BAYES_LESSON is the finding of a message learned from its recipients: a band needs a symbol of its own',
    ]);
    assert.deepEqual(issuesOf({ flush_interval: 0, reload_check: '0s', sync_interval: '1ms' }), [
      'plugins[0].flush_interval: must be above 0: it is how often the task runs, and 0 would run it without pause',
      'plugins[0].reload_check: must be above 0: it is how often the task runs, and 0 would run it without pause',
    ]);
  });

  it('refuses a recipient_delimiter that addresses are made of, and matches ham addresses against honeypots with their tags', () => {
    assert.deepEqual(issuesOf({ recipient_delimiter: '+-' }), []);
    assert.deepEqual(issuesOf({ recipient_delimiter: '+@ ' }), ['plugins[0].recipient_delimiter: "+@ " holds "@", " ", which no address tag starts with']);
    assert.deepEqual(issuesOf({ honeypots: ['trap@example.com'], ham_addresses: ['trap+news@example.com'] }), [
      'plugins[0].ham_addresses[0]: "trap+news@example.com" is also honeypots[0] ("trap@example.com"): mail to it is always learned as spam',
    ]);
    assert.deepEqual(issuesOf({ honeypots: ['trap@example.com'], ham_addresses: ['trap+news@example.com'], recipient_delimiter: '' }), []);
  });

  it('keeps max_bytes within 1KB–2MB: what hostile mail costs grows with what is read, on the gateway\'s one thread', () => {
    assert.deepEqual(issuesOf({ max_bytes: '2MB' }), []);
    assert.deepEqual(issuesOf({ max_bytes: '20MB' }).map((i) => i.split(':')[0]), ['plugins[0].max_bytes']);
    assert.match(issuesOf({ max_bytes: 100 })[0], /at least 1024 bytes/);
  });

  it('refuses learn_spam_score at or below learn_ham_score', () => {
    assert.deepEqual(issuesOf({ learn_spam_score: -2, learn_ham_score: -2 }), [
      'plugins[0].learn_spam_score: -2 is not above learn_ham_score (-2): every message would be learned, as spam from a total of -2 up',
    ]);
    assert.deepEqual(issuesOf({ learn_spam_score: 1, learn_ham_score: 5 }).length, 1);
  });

  it('still reports a value of the wrong type, and documents every key', () => {
    assert.deepEqual(issuesOf({ bands: [{ min: 2, symbol: 'X', score: 1 }, 'junk'], honeypots: [{}] }).map((i) => i.split(':')[0]),
      ['plugins[0].bands[0].min', 'plugins[0].bands[1]', 'plugins[0].honeypots[0]']);
    assert.ok(documentSchema(configSchema).some((l) => l.startsWith('| `learn_spam_score` |')));
  });

  it('moat check-config refuses such a file with every key path and exit code 1', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-config-'));
    try {
      const file = path.join(dir, 'mailmoat.yaml');
      fs.writeFileSync(file, [
        'plugins:', '  - name: bayes', '    honeypots: [spamtrap.example.com, trap@example.com]', '    ham_addresses: [trap@example.com]',
        '    learn_spam_score: 0', '    learn_ham_score: 0',
        '    bands:', '      - { min: 0.9, symbol: BAYES_HIGH, score: 3 }', '      - { min: 0.9, symbol: BAYES_HIGH, score: 2 }', '',
      ].join('\n'));
      await assert.rejects(promisify(execFile)(process.execPath, [MOAT, 'check-config', '--config', file]), (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 1);
        for (const key of ['plugins[0].honeypots[0]', 'plugins[0].ham_addresses[0]', 'plugins[0].learn_spam_score', 'plugins[0].bands[1].min', 'plugins[0].bands[1].score']) {
          assert.ok(e.stderr.includes(key), `${key} in ${e.stderr}`);
        }
        return true;
      });
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  });
  it('refuses recipient dictionaries that could never be used as written, and keeps ordinary ones', () => {
    assert.deepEqual(issuesOf({ recipient_dictionaries: [
      { recipients: ['@sales.example.com', 'ann@example.com'], dictionary: 'dictionaries/sales.tab' },
      { recipients: ['@example.com'], dictionary: 'dictionaries/staff.tab', name: 'staff' },
    ] }), []);
    assert.deepEqual(issuesOf({
      dictionary: 'shared.tab',
      recipient_dictionaries: [
        { recipients: ['@example.com'], dictionary: 'a/sales.tab' },
        { recipients: [], dictionary: 'b/other.tab' },
        { recipients: ['ann+news@example.com', '@example.com', 'bob'], dictionary: './a/sales.tab' },
        { recipients: ['zoe@example.org'], dictionary: 'shared.tab', name: 'sales' },
        { recipients: ['max@example.org'], dictionary: 'x.tab', name: 'bad name' },
      ],
    }), [
      'plugins[0].recipient_dictionaries[4].name: expected letters, digits, dots, dashes and underscores, got the string "bad name"',
      'plugins[0].recipient_dictionaries[1].recipients: lists no recipient, so the dictionary is never used',
      'plugins[0].recipient_dictionaries[2].recipients[2]: "bob" has no @, so it matches no recipient: write "user@bob" for one address or "@bob" for every address of the domain',
      'plugins[0].recipient_dictionaries[2].recipients[0]: "ann+news@example.com" is already taken by recipient_dictionaries[0]: a recipient\'s dictionary is the first entry that matches it',
      'plugins[0].recipient_dictionaries[2].recipients[1]: "@example.com" is already taken by recipient_dictionaries[0]: a recipient\'s dictionary is the first entry that matches it',
      'plugins[0].recipient_dictionaries[2].dictionary: "./a/sales.tab" is also recipient_dictionaries[0]\'s file: merge the two entries\' recipients into one',
      'plugins[0].recipient_dictionaries[2].name: "sales" is also recipient_dictionaries[0]\'s name: their shared counts and log lines would be one; give one a name of its own',
      'plugins[0].recipient_dictionaries[3].dictionary: "shared.tab" is the shared dictionary: a recipient dictionary needs a file of its own',
      'plugins[0].recipient_dictionaries[3].name: "sales" is also recipient_dictionaries[0]\'s name: their shared counts and log lines would be one; give one a name of its own',
    ]);
  });
  it('moat check-config refuses a recipient dictionary that is the shared dictionary\'s file by another path', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-config-'));
    try {
      const file = path.join(dir, 'mailmoat.yaml');
      const data = path.join(dir, 'data');
      fs.writeFileSync(file, [
        `data_dir: ${data}`, 'plugins:', '  - name: bayes', '    recipient_dictionaries:',
        `      - { recipients: ["@sales.example.com"], dictionary: ${path.join(data, 'bayes', '..', 'bayes', 'dictionary.tab')} }`, '',
      ].join('\n'));
      await assert.rejects(promisify(execFile)(process.execPath, [MOAT, 'check-config', '--config', file]), (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.ok(e.stderr.includes(`plugins[0].recipient_dictionaries[0].dictionary: ${path.join(data, 'bayes', 'dictionary.tab')} is the shared dictionary`), e.stderr);
        return true;
      });
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  });
  it('moat check-config reads the dictionaries as the start does: a file that is no dictionary, or a folder, is refused', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-config-'));
    try {
      const file = path.join(dir, 'mailmoat.yaml');
      fs.writeFileSync(path.join(dir, 'bad.tab'), 'garbage line\n');
      fs.mkdirSync(path.join(dir, 'team.tab'));
      fs.writeFileSync(file, [
        `data_dir: ${path.join(dir, 'data')}`, 'plugins:', '  - name: bayes', '    dictionary: bad.tab', '    recipient_dictionaries:',
        '      - { recipients: ["@sales.example.com"], dictionary: team.tab }', '',
      ].join('\n'));
      await assert.rejects(promisify(execFile)(process.execPath, [MOAT, 'check-config', '--config', file]), (e: { code: number; stderr: string }) => {
        assert.equal(e.code, 1);
        assert.match(e.stderr, /plugins\[0\]\.dictionary: the dictionary \S+bad\.tab cannot be read \(/);
        assert.match(e.stderr, /plugins\[0\]\.recipient_dictionaries\[0\]\.dictionary: the dictionary \S+team\.tab cannot be read \(EISDIR\)/);
        return true;
      });
    } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  });
});
