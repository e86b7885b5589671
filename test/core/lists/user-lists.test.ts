// The kept form of list entries, which senders they cover, whose lists a tagged recipient uses, and the list edits.
import assert from 'node:assert/strict';
import { MemoryStore } from '../../../core/store/index.ts';
import { addEntry, listEntry, listKey, listMatches, listOwner, listsOf, matchingEntry, MAX_ENTRIES, removeEntry } from '../../../core/lists/user-lists.ts';

describe('user lists: entries', () => {
  it('keeps addresses, domains and domain trees lower-cased and trimmed', () => {
    assert.equal(listEntry('  Alice@Example.ORG '), 'alice@example.org');
    assert.equal(listEntry('@Example.org'), '@example.org');
    assert.equal(listEntry('@.example.org'), '@.example.org');
  });

  it('takes a domain typed in Unicode in its A-label form', () => {
    assert.equal(listEntry('@bücher.example'), '@xn--bcher-kva.example');
    assert.equal(listEntry('@.bücher.example'), '@.xn--bcher-kva.example');
    assert.equal(listEntry('hans@Bücher.example'), 'hans@xn--bcher-kva.example');
  });

  it('refuses what is no entry', () => {
    for (const bad of ['', 'alice', 'example.org', '@', '@.', '@example', '@..example.org', '@-bad.example', 'a b@example.org',
      '<a@example.org>', 'alice@[192.0.2.1]', `${'x'.repeat(65)}@example.org`, '@example.org.', 'alice@']) {
      assert.equal(listEntry(bad), null, bad);
    }
  });
});

describe('user lists: matching', () => {
  const entries = ['alice@example.org', '@shop.example', '@.corp.example'];
  it('a quoted local part that needs no quotes is the same mailbox, so quoting slips past no entry', () => {
    assert.equal(matchingEntry(entries, '"alice"@example.org'), 'alice@example.org');
    assert.equal(listEntry('"Alice"@Example.org'), 'alice@example.org');
    assert.equal(listMatches(entries, '"ali ce"@example.org'), false, 'a local part that needs its quotes is another mailbox');
  });

  it('takes the owner of a recipient under SMTPUTF8 (domain in Unicode) in A-label form, as moat lists keeps it', () => {
    assert.equal(listOwner('Ann+news@Bücher.example'), 'ann@xn--bcher-kva.example');
    assert.equal(listOwner('"ann"@example.org'), 'ann@example.org');
    assert.equal(listOwner('"ann+x y"@example.org'), '"ann+x y"@example.org', 'a quoted local part is not cut inside its quotes');
    assert.equal(listOwner('"ann+x"@example.org'), 'ann@example.org', 'one that unquotes is cut as the plain form');
  });

  it('an address entry covers that address in any case, and no other of its domain', () => {
    assert.equal(matchingEntry(entries, 'Alice@Example.org'), 'alice@example.org');
    assert.equal(listMatches(entries, 'bob@example.org'), false);
  });

  it('a domain entry covers its domain only; a tree entry the domain and its subdomains', () => {
    assert.equal(matchingEntry(entries, 'news@shop.example'), '@shop.example');
    assert.equal(listMatches(entries, 'news@eu.shop.example'), false);
    assert.equal(matchingEntry(entries, 'x@corp.example'), '@.corp.example');
    assert.equal(matchingEntry(entries, 'x@mail.eu.corp.example'), '@.corp.example');
    assert.equal(listMatches(entries, 'x@notcorp.example'), false, 'a suffix that is not a label boundary');
  });

  it('the null sender and an address without a domain match nothing', () => {
    assert.equal(listMatches(['@example.org', '@.example.org'], ''), false);
    assert.equal(listMatches(['@example.org'], '<>'), false);
    assert.equal(listMatches(['@example.org'], '@example.org'), false, 'no local part');
  });

  it('a sender with a Unicode domain (SMTPUTF8) matches the A-label entry', () => {
    assert.equal(matchingEntry([listEntry('@bücher.example')!], 'hans@bücher.example'), '@xn--bcher-kva.example');
  });
});

describe('user lists: the owner of a tagged recipient', () => {
  it('takes the tag off at the first delimiter after the first character', () => {
    assert.equal(listOwner('Bob+News@Example.com'), 'bob@example.com');
    assert.equal(listOwner('bob-news+x@example.com', '-+'), 'bob@example.com');
    assert.equal(listOwner('+bob@example.com'), '+bob@example.com', 'a local part that starts with the delimiter has no tag');
    assert.equal(listOwner('bob+news@example.com', ''), 'bob+news@example.com', 'an empty delimiter turns it off');
  });
});

describe('user lists: edits in a store', () => {
  it('adds once, lists sorted, removes, and reports what it did', async () => {
    const store = new MemoryStore();
    assert.equal(await addEntry(store, 'allow', 'Bob@example.com', '@b.example'), 'added');
    assert.equal(await addEntry(store, 'allow', 'bob@example.com', '@a.example'), 'added');
    assert.equal(await addEntry(store, 'allow', 'bob@example.com', '@a.example'), 'already listed');
    assert.deepEqual(await listsOf(store, 'BOB@example.com'), { allow: ['@a.example', '@b.example'], block: [] });
    assert.deepEqual((await store.smembers(listKey('allow', 'bob@example.com'))).sort(), ['@a.example', '@b.example'], 'one key per recipient, lower-cased');
    assert.equal(await removeEntry(store, 'allow', 'bob@example.com', '@a.example'), true);
    assert.equal(await removeEntry(store, 'allow', 'bob@example.com', '@a.example'), false);
    assert.equal(await removeEntry(store, 'block', 'bob@example.com', '@b.example'), false, 'the other list is its own');
    await store.close();
  });

  it('refuses an entry beyond MAX_ENTRIES', async () => {
    const store = new MemoryStore();
    for (let i = 0; i < MAX_ENTRIES; i++) await store.sadd(listKey('block', 'full@example.com'), `@d${i}.example`);
    assert.equal(await addEntry(store, 'block', 'full@example.com', '@one-more.example'), 'list full');
    assert.equal(await addEntry(store, 'block', 'full@example.com', '@d1.example'), 'already listed');
    await store.close();
  });
});
