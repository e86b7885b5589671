// Removing delimited spans from untrusted text.
import assert from 'node:assert/strict';
import { withoutSpans, withoutTrailing } from '../../../core/text/spans.ts';

describe('withoutSpans', () => {
  it('replaces each span up to the first closer after its opener, and keeps the rest from an unclosed opener', () => {
    assert.equal(withoutSpans('a (b) c (d (e) f) g', '(', ')', ''), 'a  c  f) g');
    assert.equal(withoutSpans('x<!-- y --><!---->z<!-- open', '<!--', '-->', ' '), 'x  z<!-- open');
    assert.equal(withoutSpans('<!-->', '<!--', '-->', ' '), '<!-->');
    assert.equal(withoutSpans('plain', '<', '>', ' '), 'plain');
  });

  it('reads 400 KB of openers that never close in one pass', function () {
    // The regex it replaces took 27 s for 160 KB of "(".
    this.timeout(10_000);
    const text = '('.repeat(400_000) + 'tail';
    assert.equal(withoutSpans(text, '(', ')', ''), text);
  });
});

describe('withoutTrailing', () => {
  it('drops only the given characters, only at the end', () => {
    assert.equal(withoutTrailing('http://a.example/x.!?', '.,;:!?'), 'http://a.example/x');
    assert.equal(withoutTrailing('...', '.'), '');
    assert.equal(withoutTrailing('a-b--', '-'), 'a-b');
    assert.equal(withoutTrailing('', '.'), '');
  });
});
