// MailEnable XML with tokens holding characters XML 1.0 cannot carry (controls, U+FFFE): the real CLI's export must be
// well-formed to a real XML parser (expat, through Python), and its import must read the tokens back as they were.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Dictionary } from '../../../plugins/bayes/engine/dictionary.ts';
import { loadDictionary, saveDictionary } from '../../../plugins/bayes/engine/persist.ts';
import { ensureCommands } from '../../helpers/system-packages.ts';
import { moatBayes } from './moat-cli.ts';

// Expat parses the file and prints each entry's ENCODED attribute and text, one JSON array per line.
const EXPAT = `
import json, sys, xml.parsers.expat
entries, cur = [], None
def start(name, attrs):
    global cur
    if name == 'E': cur = [attrs.get('ENCODED', ''), '']
def end(name):
    global cur
    if name == 'E': entries.append(cur); cur = None
def text(data):
    if cur is not None: cur[1] += data
p = xml.parsers.expat.ParserCreate()
p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = start, end, text
p.ParseFile(open(sys.argv[1], 'rb'))
for e in entries: print(json.dumps(e))
`;

const TOKENS = ['plain', 'h:font:face=a\x01b', 'an:x\ufffey', 'pct%41', 'both%\x02', 'amp&<lt>', 'café\x1f'];

describe('bayes XML export of tokens XML cannot carry', function () {
  this.timeout(30_000);
  let dir: string;

  before(() => {
    ensureCommands({ python3: 'python3' });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayes-xml-ctl-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes well-formed XML, marking and percent-encoding only those tokens, and import reads every token back', async () => {
    const d = new Dictionary();
    d.nspam = 20;
    d.nham = 30;
    TOKENS.forEach((t, i) => d.add(t, i + 1, 2 * i + 1));
    const tab = path.join(dir, 'dict.tab');
    await saveDictionary(tab, d);
    const xml = path.join(dir, 'dict.xml');
    const exported = moatBayes('export', tab, xml);
    assert.equal(exported.code, 0, exported.err);

    const parsed = spawnSync('python3', ['-c', EXPAT, xml], { encoding: 'utf8' });
    assert.equal(parsed.status, 0, `expat: ${parsed.stderr}`);
    const entries = parsed.stdout.trim().split('\n').map((l) => JSON.parse(l) as [string, string]);
    assert.deepEqual(entries, [
      ['', 'plain'], ['percent', 'h:font:face=a%01b'], ['percent', 'an:x%EF%BF%BEy'], ['', 'pct%41'], ['percent', 'both%25%02'],
      ['', 'amp&<lt>'], ['percent', 'café%1F'],
    ]);

    const back = path.join(dir, 'back.tab');
    const imported = moatBayes('import', back, xml, '--json');
    assert.equal(imported.code, 0, imported.err);
    assert.equal(JSON.parse(imported.out).malformed.count, 0);
    const read = await loadDictionary(back);
    assert.deepEqual([...read.entries()].map((e) => [e.token, e.spam, e.ham]), TOKENS.map((t, i) => [t, i + 1, 2 * i + 1]));
  });

  it('passes over an entry marked percent-encoded whose escapes are not UTF-8, and reads the rest', () => {
    const xml = path.join(dir, 'bad.xml');
    fs.writeFileSync(xml, '<ELEMENTS><ENTRIES W="1" B="1"><E W="1" B="0" ENCODED="percent">bad%FF</E><E W="0" B="1">good</E></ENTRIES></ELEMENTS>\n');
    const r = moatBayes('import', path.join(dir, 'bad.tab'), xml, '--json');
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    assert.deepEqual([j.imported, j.malformed.count, j.malformed.first], [1, 1, 1]);
  });
});
