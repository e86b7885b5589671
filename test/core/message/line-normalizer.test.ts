// Bare CR and bare LF in DATA, split across chunks at every position: rewritten to CRLF or reported.
import assert from 'node:assert/strict';
import { LineNormalizer } from '../../../core/message/line-normalizer.ts';

async function run(chunks: string[], rewrite = true): Promise<{ out: string; bare: boolean }> {
  const n = new LineNormalizer(rewrite);
  const parts: Buffer[] = [];
  n.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((r) => n.on('end', r));
  for (const c of chunks) n.write(Buffer.from(c, 'latin1'));
  n.end();
  await done;
  return { out: Buffer.concat(parts).toString('latin1'), bare: n.sawBareLineEnd };
}

const cases: Array<{ input: string; out: string; bare: boolean }> = [
  { input: 'a\r\nb\r\n', out: 'a\r\nb\r\n', bare: false },
  { input: 'a\nb\n', out: 'a\r\nb\r\n', bare: true },
  { input: 'a\rb\r', out: 'a\r\nb\r\n', bare: true },
  { input: '\n.\n', out: '\r\n.\r\n', bare: true },
  { input: 'x\r\r\ny', out: 'x\r\n\r\ny', bare: true },
];

describe('LineNormalizer', () => {
  for (const c of cases) {
    it(`${JSON.stringify(c.input)} → ${JSON.stringify(c.out)}, at every split point`, async () => {
      for (let i = 0; i <= c.input.length; i++) {
        const r = await run([c.input.slice(0, i), c.input.slice(i)]);
        assert.equal(r.out, c.out, `split at ${i}`);
        assert.equal(r.bare, c.bare, `split at ${i}`);
      }
    });
  }
  it('only reports, without rewriting, in reject mode', async () => {
    const r = await run(['a\nb'], false);
    assert.equal(r.out, 'a\nb');
    assert.equal(r.bare, true);
  });
});
