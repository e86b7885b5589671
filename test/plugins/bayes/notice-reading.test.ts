// How a delivery report's notice is read (pure functions, no gateway): the text an HTML notice shows, counted the
// way its reader is shown it; the markup that shows text that count would miss; the links a notice holds and which
// of them an MTA could have written; and the copy of the returned header section Exchange's notices hold.
import assert from 'node:assert/strict';
import { hiddenTextIn, markupLinks, shownText } from '../../../plugins/bayes/notice-html.ts';
import { textLinks, unexplainedLink } from '../../../plugins/bayes/notice-links.ts';
import { headerSectionOf, quotedHeaderBytes } from '../../../plugins/bayes/quoted-header.ts';

describe('bayes: reading a delivery report\'s notice', () => {
  it('counts what a reader is shown that a tag-stripper would miss', () => {
    // A <head> inside the body is ignored by browsers, its text shown.
    assert.equal(shownText('<body>Address not found<head>Buy V1agra</head></body>'), 'Address not found Buy V1agra');
    // A `<` that opens no tag is text, and what follows it too.
    assert.equal(shownText('<p>Address not found < Buy V1agra now</p>'), 'Address not found < Buy V1agra now');
    // Outlook shows an image's alternative text where it blocks the image.
    assert.equal(shownText('<p>Address not found</p><img src="cid:a" alt="Buy V1agra">'), 'Address not found Buy V1agra');
    assert.equal(shownText('<title>DSN</title><style>p{}</style><p>Bob&#39;s address &lt;bob@partner.test&gt;</p><!-- x -->'), 'Bob\'s address <bob@partner.test>');
  });

  it('refuses markup that shows text the count leaves out, and no MTA writes', () => {
    assert.equal(hiddenTextIn('<style>p { margin: 0 }</style><p style="color:#333">Address not found</p>'), undefined);
    assert.equal(hiddenTextIn('<style>p::after { content: "Buy V1agra" }</style><p></p>'), 'CSS generated content');
    assert.equal(hiddenTextIn('<p style="x:y;content:\'Buy\'">a</p>'), 'CSS generated content');
    assert.equal(hiddenTextIn('<!--[if mso]>Buy V1agra<![endif]-->'), 'a conditional comment');
    assert.equal(hiddenTextIn('<textarea><Buy V1agra at cheap-meds></textarea>'), 'a <textarea> element');
    // The same words in the text, where a reader sees them as text, are counted and no refusal.
    assert.equal(hiddenTextIn('<pre>Content-Type: text/html; content: x</pre>'), undefined);
  });

  it('refuses CSS whose escapes, comments or references hide a name, and strings that are no font or URL', () => {
    assert.equal(hiddenTextIn('<style>p::after{cont\\65nt:"BUY NOW"}</style>'), 'a CSS escape');
    assert.equal(hiddenTextIn('<style>p::after{content/**/:"BUY NOW"}</style>'), 'a CSS comment');
    assert.equal(hiddenTextIn('<p style="background:u\\72l(http://cheap.example/)">a</p>'), 'a CSS escape');
    // A style attribute's references are decoded before its CSS is read; one this reading does not know is refused.
    assert.equal(hiddenTextIn('<p style="cont&#101;nt:\'Buy\'">a</p>'), 'CSS generated content');
    assert.equal(hiddenTextIn('<p style="cont&bsol;65nt:\'Buy\'">a</p>'), 'a character reference in a style attribute');
    assert.equal(hiddenTextIn('<style>q{quotes:"Buy V1agra" ""}</style><q></q>'), 'a CSS string that is no font name or URL');
    assert.equal(hiddenTextIn('<li style=\'list-style-type:"Buy V1agra"\'>a</li>'), 'a CSS string that is no font name or URL');
    assert.equal(hiddenTextIn('<style>p{font-family:"a\n;list-style-type:"Buy";x:"}</style>'), 'a CSS string not closed on its line');
    assert.equal(hiddenTextIn('<style>title{display:block}</style><title>Buy</title>'), 'CSS display rules in a style element');
    assert.equal(hiddenTextIn('<svg><style><p>Buy V1agra</p></style></svg>'), 'a <svg> element');
    // A stylesheet from a part beside the notice (`cid:` is no link) is CSS this reading never sees.
    assert.equal(hiddenTextIn('<link rel=stylesheet href="cid:notice.css"><p>Address not found</p>'), 'a <link> element');
    // Fonts named in strings, and URLs in strings, as Gmail's and Exchange's notices write them.
    assert.equal(hiddenTextIn('<style>* { font-family:Roboto, "Helvetica Neue", Arial; }</style><p style="font:12px \'Segoe UI\';background:url(\'cid:a\')">a</p>'), undefined);
  });

  it('ends tags, comments and hidden elements where a browser ends them', () => {
    // A `>` in a quoted value does not end the tag, so the href after it is a link, not text.
    assert.deepEqual(markupLinks('<a title=">" href=//cheap.example/>x</a>'), ['//cheap.example/']);
    assert.equal(shownText('<a title=">" href=//cheap.example/>x</a>'), '> x');
    // `--!>` ends a comment; `<style-x>` is no style element; a template's content is counted.
    assert.equal(shownText('<!-- a --!>Buy V1agra<!-- b -->'), 'Buy V1agra');
    assert.equal(shownText('<style-x>Buy V1agra</style-x><template>now</template>'), 'Buy V1agra now');
    assert.equal(shownText('<style>p{}</stylex>Buy</style>Address not found'), 'Address not found');
    assert.equal(shownText('<select><option label="Buy V1agra">'), 'Buy V1agra');
    // A reference this reading does not decode leads to no host it can tell, wherever the rest points.
    assert.equal(unexplainedLink(markupLinks('<a href="https://cheap.example&quest;@support.google.com/">x</a>'), ''), 'https://cheap.example&quest;@support.google.com/');
  });

  it('finds the places the markup links to, as a browser reads them, and leaves mail addresses and parts', () => {
    assert.deepEqual(markupLinks([
      '<a href="mailto:bob@partner.test">Bob</a><img src="cid:icon.png"><a href="#top">top</a>',
      '<a href="&#104;ttps&#58;//a.example/">a</a><img src="ht\ttp://b.example/x.png">',
      '<td background=//c.example/bg.gif><p style="background:url(\'http://d.example/i.gif\')">',
      '<style>@import "http://e.example/x.css";</style><img src="data:image/png;base64,AAAA">',
    ].join('')), ['https://a.example/', 'http://b.example/x.png', '//c.example/bg.gif', 'http://d.example/i.gif', 'data:image/png;base64,AAAA', 'http://e.example/x.css']);
    // Attribute-like text outside tags (a copied header's `action=none`) is no link.
    assert.deepEqual(markupLinks('<pre>dmarc=pass action=none header.from=example.com</pre>'), []);
  });

  it('lets a notice link only to a provider\'s help pages and to links the remote replies it quotes give', () => {
    const notice = 'Learn more: https://support.google.com/mail/?p=NoSuchUser\n554 listed, see https://check.spamhaus.org/listed/?searchterm=19\n8.51.100.25';
    const links = textLinks(notice);
    assert.deepEqual(links, ['https://support.google.com/mail/?p=NoSuchUser', 'https://check.spamhaus.org/listed/?searchterm=19']);
    assert.equal(unexplainedLink(links, 'Diagnostic-Code: smtp; 554 listed, see\n    https://check.spamhaus.org/listed/?searchterm=198.51.100.25'), undefined);
    assert.equal(unexplainedLink(links, 'Diagnostic-Code: smtp; 554 listed'), 'check.spamhaus.org');
    assert.equal(unexplainedLink(['https://support.google.com@cheap.example/'], ''), 'cheap.example');
    assert.deepEqual(textLinks('see www.cheap.example/x or mail.partner.test or bob@www.partner.test'), ['www.cheap.example/x']);
    assert.equal(unexplainedLink(['javascript:alert(1)'], 'javascript:alert(1)'), 'javascript:alert(1)');
  });

  it('finds the returned header section copied in a notice, whatever its white space, and nothing less', () => {
    const header = headerSectionOf('Subject: Minutes\r\nTo: Bob\r\n <bob@partner.test>\r\n\r\nHi Bob\r\n');
    assert.equal(header, 'Subject: Minutes\r\nTo: Bob\r\n <bob@partner.test>');
    const notice = 'Delivery has failed.\n\nOriginal message headers:\n\nSubject:   Minutes\nTo: Bob <bob@partner.test>\n';
    assert.equal(quotedHeaderBytes(notice, header), 'Subject:   Minutes\nTo: Bob <bob@partner.test>'.length);
    assert.equal(quotedHeaderBytes(notice.replace('Minutes', 'Minutes!'), header), 0);
    assert.equal(quotedHeaderBytes(notice, ''), 0);
  });
});
