// The address lists' matching by mailbox, and which list entries can match anything at all.
import assert from 'node:assert/strict';
import { addressMatcher, mailboxKey, mailboxOf, withoutTag } from '../../../core/lists/address-matcher.ts';
import { addressEntryProblem } from '../../../core/lists/address-entry.ts';

describe('address lists', () => {
  it('put every spelling of a mailbox in one form: unquoted, lower case, A-label domain without its trailing dot', () => {
    for (const a of ['User@Example.ORG', '"user"@example.org', '"us\\er"@example.org', 'user@example.org.', ' user@EXAMPLE.org ']) {
      assert.deepEqual(mailboxOf(a), { local: 'user', domain: 'example.org' }, a);
    }
    assert.deepEqual(mailboxOf('Taro@例え.JP'), { local: 'taro', domain: 'xn--r8jz45g.jp' });
    assert.deepEqual(mailboxOf('"a b"@example.org'), { local: 'a b', domain: 'example.org' });
    assert.deepEqual(mailboxOf('"u@evil.test"@example.org'), { local: 'u@evil.test', domain: 'example.org' }, 'the domain is the one after the last @');
  });

  it('compose a local part (NFC), so a decomposed spelling is the mailbox its composed one names', () => {
    // o and a combining diaeresis, as a keyboard or a copy from a PDF may give it.
    for (const a of ['jo\u0308rg@müller.example', 'JO\u0308RG@MU\u0308LLER.EXAMPLE', '"jörg"@xn--mller-kva.example.', 'Jörg@XN--MLLER-KVA.example']) {
      assert.equal(mailboxKey(a), 'jörg@xn--mller-kva.example', a);
    }
    assert.notEqual(mailboxKey('jorg@müller.example'), mailboxKey('jörg@müller.example'));
    const m = addressMatcher(['jörg@müller.example', 'ju\u0308rgen@example.org']);
    for (const a of ['jo\u0308rg@müller.example', 'jo\u0308rg+news@xn--mller-kva.example', 'jürgen@example.org']) assert.equal(m(a), true, a);
    assert.equal(m('jorg@müller.example'), false);
  });

  it('cut a tag at the first of the delimiters, never at the first character', () => {
    assert.equal(withoutTag('user+a+b', '+'), 'user');
    assert.equal(withoutTag('user-a+b', '+-'), 'user');
    assert.equal(withoutTag('+user', '+'), '+user');
    assert.equal(withoutTag('user+a', ''), 'user+a');
  });

  it('match a mailbox, its tagged addresses and its domain entry; an entry with a tag only that tag', () => {
    const m = addressMatcher(['Target@example.org', '@blocked.example', 'list+bayes@example.org', '@例え.jp']);
    for (const a of ['target+x@EXAMPLE.org', '"target"@example.org.', 'x@Blocked.Example', 'list+bayes@example.org', 'x@xn--r8jz45g.jp']) assert.equal(m(a), true, a);
    for (const a of ['targets@example.org', 'x@sub.blocked.example', 'list@example.org', 'list+other@example.org', 'target@example.org.evil']) assert.equal(m(a), false, a);
  });

  it('refuse entries that can match nothing, naming why', () => {
    for (const ok of ['user@example.org', '@example.org', 'user@example.org.', '"a b"@example.org', 'u@[192.0.2.1]', 'u@bücher.example']) assert.equal(addressEntryProblem(ok), undefined, ok);
    assert.equal(addressEntryProblem('example.org'), 'has no @: write user@example.org for one address, or @example.org for every address of that domain');
    assert.equal(addressEntryProblem('user@'), 'has no domain after the @');
    assert.equal(addressEntryProblem('a@example.org,'), 'has "example.org," after the @, which is not a domain name');
    assert.equal(addressEntryProblem('a@example.org, b@example.org'), 'has a space in it: one address per entry');
    assert.equal(addressEntryProblem('a b@example.org'), 'has a space in it: one address per entry');
    assert.equal(addressEntryProblem('  '), 'is empty');
  });
});
