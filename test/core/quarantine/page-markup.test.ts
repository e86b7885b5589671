// The quarantine's HTML as a recipient's browser or mail program gets it, from the renderers themselves (a browser
// walkthrough found it): a subject of one 600-character word pushed every row's buttons off-screen, the digest had
// no viewport and a fixed table, a rule's hold read "rule hold-invoice, 0.0", the row buttons had no names of their
// own, and Always allow said "is on your allow list now" where no allow entry can count.
import assert from 'node:assert/strict';
import { buildDigestMail, type DigestItem } from '../../../core/quarantine/digest-mail.ts';
import { recipientPage, type RecipientView } from '../../../core/quarantine/recipient-page.ts';
import { previewPage } from '../../../core/quarantine/preview-page.ts';
import { confirmPage } from '../../../core/quarantine/pages.ts';
import { heldForText, shownText, whyHeldText, type QuarantinedSummary } from '../../../core/quarantine/summary.ts';
import { ALLOW_DOES_NOT_COUNT, noticeHtml, outcomeNotice } from '../../../core/quarantine/flash.ts';
import type { QueueEntry } from '../../../core/queue/entry.ts';
import { digestHtml, digestText } from './digest-text.ts';

const LONG_WORD = shownText(`SPAM ${'A'.repeat(600)}`);
const NOW = Date.UTC(2026, 10, 23, 5, 55, 42);

const bySpam: QuarantinedSummary = {
  id: '0mwlong0001', receivedAt: NOW, sender: 'longword@spam.example', subject: LONG_WORD, score: 12,
  senderAddress: 'longword@spam.example', heldFor: 'spam score 12.0', recipientMayRelease: true,
};
const byRule: QuarantinedSummary = {
  id: '0mwrule0002', receivedAt: NOW - 60_000, sender: 'billing@vendor.example', subject: 'Your invoice #4411', score: 0,
  senderAddress: 'billing@vendor.example', heldFor: 'Invoices from outside are held for review', recipientMayRelease: true,
};

function view(over: Partial<RecipientView> = {}): RecipientView {
  return {
    address: 'alice@corp.example', ticket: 'T.icket', messages: [bySpam, byRule], total: 2, page: 1,
    senderEntries: new Map([[bySpam.id, 'longword@spam.example'], [byRule.id, 'billing@vendor.example']]),
    lists: { allow: ['friend@example.org'], block: [] }, expires: NOW + 86_400_000, ...over,
  };
}

/** The page's own style sheet (one <style>, the only one). */
const styleOf = (html: string) => /<style>([^<]*)<\/style>/.exec(html)?.[1] ?? '';
/** A row of the held list, by the message id its forms carry. */
const rowOf = (html: string, id: string) => html.split('<tr>').find((r) => r.includes(`name="ids" value="${id}"`)) ?? '';

describe('quarantine pages: markup a phone and a screen reader can use', () => {
  it('lets any word break and keeps the list within the screen, with a viewport and larger targets on small screens', () => {
    const html = recipientPage(view());
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    const style = styleOf(html);
    assert.match(style, /body\{[^}]*overflow-wrap:anywhere;word-break:break-word/, 'every cell inherits it');
    assert.match(style, /table\.held\{width:100%/, 'the list fills the width and no more');
    assert.match(style, /@media \(max-width:45em\)\{table\.held,\.held tbody,\.held tr,\.held td\{display:block/, 'rows stack on a phone');
    assert.match(style, /@media \(max-width:45em\),\(pointer:coarse\)\{button,select,input\[type=text\]\{min-height:44px\}/);
    assert.match(html, /<table class="held">\n<tr><th><span class="vh">Select<\/span><\/th><th>Date \(UTC\)<\/th>/);
    // The subject is still cut at 80 characters: one word, which the style lets break.
    assert.ok(rowOf(html, bySpam.id).includes(`>${LONG_WORD}</a>`));
  });

  it('names every row button with its message, and every Remove with its entry; the list select has a label', () => {
    const html = recipientPage(view());
    const row = rowOf(html, bySpam.id);
    const names = [...row.matchAll(/<button type="submit" name="do" value="(\w+)" aria-label="([^"]*)">([^<]*)<\/button>/g)].map((m) => [m[1], m[2], m[3]]);
    const which = `“${LONG_WORD}” from longword@spam.example`;
    assert.deepEqual(names, [
      ['release', `Release ${which}`, 'Release'],
      ['delete', `Delete ${which}`, 'Delete'],
      ['allow', `Always allow longword@spam.example, and release “${LONG_WORD}”`, 'Always allow longword@spam.example'],
      ['block', `Always block longword@spam.example, and delete “${LONG_WORD}”`, 'Always block longword@spam.example'],
    ]);
    // Each name begins with the label seen (WCAG 2.5.3, label in name), so a spoken "click Release" still finds it.
    for (const [, name, label] of names) assert.ok(name.startsWith(label), name);
    assert.match(html, /value="remove" aria-label="Remove friend@example\.org from your allow list">Remove<\/button>/);
    assert.match(html, /<select name="list" aria-label="The list to add the entry to">/);
    assert.match(html, /<input type="checkbox" name="ids" value="0mwrule0002" form="bulk" aria-label="Select: Your invoice #4411">/);
  });

  it('says why each is held once: the spam score, or the rule\'s reason without a score', () => {
    const html = recipientPage(view());
    assert.match(rowOf(html, bySpam.id), /<td>spam score 12\.0<\/td>/);
    assert.doesNotMatch(rowOf(html, bySpam.id), /12\.0<br>/, 'not "12.0 / spam score 12.0"');
    assert.match(rowOf(html, byRule.id), /<td>Invoices from outside are held for review<\/td>/);
    assert.doesNotMatch(rowOf(html, byRule.id), /0\.0/);
    assert.match(rowOf(html, byRule.id), /<td>2026-11-23 05:54<\/td>/, 'the date to the minute, its zone in the heading');

    const preview = previewPage(byRule, { fields: [['Subject', byRule.subject]], attachments: [], moreAttachments: 0, text: 'Please pay.', cut: false }, 'T.icket', 1);
    assert.match(preview, /<tr><th>Why held<\/th><td>Invoices from outside are held for review<\/td><\/tr>/);
    assert.doesNotMatch(preview, /Score|0\.0/);
    assert.match(styleOf(preview), /overflow-wrap:anywhere/);
    const confirm = confirmPage('release', byRule, 'alice@corp.example', 'T.icket');
    assert.match(confirm, /<tr><th>Why held<\/th><td>Invoices from outside are held for review<\/td><\/tr>/);
    assert.doesNotMatch(confirm, /Score/);
  });

  it('takes a rule\'s note without the rule\'s name, and the name only when the rule gave no note', () => {
    const entry = (reason: string, score = 0) => ({ verdict: { action: 'quarantine', score, level: 'None', findings: [], reason, forced: true } }) as unknown as Pick<QueueEntry, 'verdict'>;
    assert.equal(heldForText(entry('rules: rule hold-invoice: Invoices from outside are held for review')), 'Invoices from outside are held for review');
    assert.equal(heldForText(entry('rules: rule hold-invoice')), 'rule hold-invoice');
    assert.equal(heldForText(entry('clamav: virus Eicar-Test-Signature')), 'virus Eicar-Test-Signature');
    assert.equal(heldForText(entry('score 12 ≥ quarantine threshold 10', 12)), 'spam score 12.0');
    assert.equal(whyHeldText({ score: 3 }), 'score 3.0', 'an entry without a reason still says its score');
  });

  it('says in the notice when an allow entry cannot count on this gateway, and only then', () => {
    const allowed = { did: 'allowed' as const, change: { entry: 'promo5@spam.example', list: 'allow' as const, added: 'added' as const }, messageGone: false };
    const none = { needsAuth: true, envelopeProvable: false, fromProvable: false };
    const spf = { needsAuth: true, envelopeProvable: true, fromProvable: false };
    assert.deepEqual(outcomeNotice(allowed, 'alice@corp.example', none).lines, [
      'promo5@spam.example is on your allow list now.', 'The message is on its way to alice@corp.example.', ALLOW_DOES_NOT_COUNT,
    ]);
    assert.match(ALLOW_DOES_NOT_COUNT, /does not let mail through/);
    assert.ok(noticeHtml(allowed, 'alice@corp.example', none).includes('<p>Note: on this gateway your allow list does not let mail through for now,'));
    assert.ok(!outcomeNotice(allowed, 'alice@corp.example', spf).lines.includes(ALLOW_DOES_NOT_COUNT), 'SPF can prove it: it counts');
    assert.ok(!outcomeNotice(allowed, 'alice@corp.example', { ...none, needsAuth: false }).lines.includes(ALLOW_DOES_NOT_COUNT));
    assert.ok(!outcomeNotice(allowed, 'alice@corp.example').lines.includes(ALLOW_DOES_NOT_COUNT), 'not known: nothing said');
    const typed = { did: 'added' as const, change: { entry: '@vendor.example', list: 'allow' as const, added: 'added' as const } };
    assert.ok(outcomeNotice(typed, 'alice@corp.example', none).lines.includes(ALLOW_DOES_NOT_COUNT), 'a typed allow entry too');
    const blocked = { did: 'blocked' as const, change: { entry: 'promo5@spam.example', list: 'block' as const, added: 'added' as const }, messageGone: false };
    assert.ok(!outcomeNotice(blocked, 'alice@corp.example', none).lines.includes(ALLOW_DOES_NOT_COUNT));
  });
});

describe('the digest mail\'s HTML: simple, and readable on a phone', () => {
  const virus: DigestItem = {
    id: '0mwvirus003', receivedAt: NOW - 120_000, sender: 'x@bad.example', subject: 'Scan', score: 0, heldFor: 'virus Eicar-Test-Signature',
    recipientMayRelease: false, links: { delete: 'https://mx.corp.example/quarantine/delete?t=D3' },
  };
  const items: DigestItem[] = [
    { ...bySpam, links: { release: 'https://mx.corp.example/quarantine/release?t=R1', delete: 'https://mx.corp.example/quarantine/delete?t=D1' } },
    { ...byRule, links: { release: 'https://mx.corp.example/quarantine/release?t=R2', delete: 'https://mx.corp.example/quarantine/delete?t=D2' } },
    virus,
  ];
  const raw = buildDigestMail({
    from: 'postmaster@mx.corp.example', to: 'alice@corp.example', hostname: 'mx.corp.example', items, older: 0, now: NOW,
    mineLink: 'https://mx.corp.example/quarantine/mine?t=M', linksExpire: NOW + 86_400_000,
  });
  const html = digestHtml(raw);
  const text = digestText(raw);

  it('has a viewport, inline styles only, no script, no table and no fixed width', () => {
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.doesNotMatch(html, /<table|border=|width="|<style|<script|<link/i);
    assert.match(html, /<body style="[^"]*overflow-wrap:anywhere;word-break:break-word/);
    assert.ok(html.includes(`<div style="font-weight:bold">${LONG_WORD}</div>`), 'the subject on a line of its own');
    assert.match(html, /<div style="[^"]*">2026-11-23 05:55 UTC<\/div>/, 'a short date, on one line');
  });

  it('draws each link as a button named with its message, and says why each is held once', () => {
    const links = [...html.matchAll(/<a href="([^"]+)" style="([^"]+)" aria-label="([^"]+)">(\w+)<\/a>/g)].map((m) => [m[1].replace(/^.*\//, ''), m[3], m[4]]);
    assert.deepEqual(links, [
      ['release?t=R1', `Release “${LONG_WORD}” from longword@spam.example`, 'Release'],
      ['delete?t=D1', `Delete “${LONG_WORD}” from longword@spam.example`, 'Delete'],
      ['release?t=R2', 'Release “Your invoice #4411” from billing@vendor.example', 'Release'],
      ['delete?t=D2', 'Delete “Your invoice #4411” from billing@vendor.example', 'Delete'],
      ['delete?t=D3', 'Delete “Scan” from x@bad.example', 'Delete'],
    ]);
    assert.match(html, /style="display:inline-block;padding:11px 16px;/, 'a target about 44px tall');
    assert.ok(html.includes('<div>Why held: spam score 12.0</div>'));
    assert.ok(html.includes('<div>Why held: Invoices from outside are held for review</div>'));
    assert.ok(html.includes('<div>Why held: virus Eicar-Test-Signature</div>'));
    assert.doesNotMatch(html, /12\.0 \/|0\.0/);
    // The text part: one Reason line each, and no Score line beside it.
    assert.match(text, /^Subject: Your invoice #4411\r\nReason: {2}Invoices from outside are held for review\r\nRelease: /m);
    assert.match(text, /^Reason: {2}spam score 12\.0\r$/m);
    assert.doesNotMatch(text, /^Score:/m);
  });
});
