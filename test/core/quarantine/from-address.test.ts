// Which address of a From field the recipient page's allow and block buttons take (pure parsing, no I/O).
import assert from 'node:assert/strict';
import { fromAddress } from '../../../core/quarantine/summary.ts';

describe('the address of a From field', () => {
  it('is the one in angle brackets, not an address-like display name', () => {
    assert.equal(fromAddress('"paypal@paypal.example" <King@Spam.example>'), 'king@spam.example');
    assert.equal(fromAddress('paypal@paypal.example <x@spam.example>'), 'x@spam.example');
    assert.equal(fromAddress('=?utf-8?q?Gr=C3=BC=C3=9Fe?= < ann@example.org >'), 'ann@example.org');
  });

  it('is the bare address when there are no brackets, outside quotes and comments', () => {
    assert.equal(fromAddress('prize@lottery.example'), 'prize@lottery.example');
    assert.equal(fromAddress('prize@lottery.example (fake@bank.example)'), 'prize@lottery.example');
    assert.equal(fromAddress('"a@b.example" x@y.example'), 'x@y.example');
  });

  it('is none when the field names several authors (the page then offers the envelope sender)', () => {
    assert.equal(fromAddress('Ann <ann@a.example>, Bob <bob@b.example>'), undefined);
    assert.equal(fromAddress('ann@a.example, bob@b.example'), undefined);
    assert.equal(fromAddress('"Ann, Bob" <ann@a.example>'), 'ann@a.example', 'a comma in a quoted name is one author');
  });

  it('is none when the field holds no address', () => {
    assert.equal(fromAddress('Undisclosed sender'), undefined);
    assert.equal(fromAddress(''), undefined);
  });
});
