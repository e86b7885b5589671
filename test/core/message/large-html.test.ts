// A message with a very large HTML body: parsing it and counting its links must not stop the gateway answering
// other clients, and the start of its text, HTML and links, which plugins read, must be there.
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { parseMime, HTML_TO_TEXT_MAX_SIZE } from '../../../core/message/mime-parse.ts';
import type { ParsedMessage } from '../../../core/message/types.ts';
import { TEXT_PART_MAX_BYTES } from '../../../core/message/text-parts.ts';
import { htmlText } from '../../../core/message/html-text.ts';
import { SpooledMessage } from '../../../core/message/spooled-message.ts';
import { headerEnd } from '../../../core/message/header-block.ts';
import { distinctHosts } from '../../../plugins/urlbl/hosts.ts';

const HEAD = 'From: a@sender.test\r\nTo: b@rcpt.test\r\nSubject: big\r\nMIME-Version: 1.0\r\n';

/** A single-part HTML message of about `bytes` bytes with `links` links to 1,000 sites, a word of its own at each end. */
function htmlMessage(bytes: number, links: number): Buffer {
  const pad = 'x'.repeat(Math.max(0, Math.floor(bytes / links) - 80));
  const lines = ['<html><head><style>p { margin: 0 }</style></head><body><p>openingword</p>'];
  for (let i = 0; i < links; i++) lines.push(`<p><a href="https://www.site${i % 1000}.example/p/${i}">link ${i}</a> ${pad}</p>`);
  lines.push('<p>closing&eacute;word</p></body></html>');
  return Buffer.from(`${HEAD}Content-Type: text/html; charset=us-ascii\r\n\r\n${lines.join('\r\n')}\r\n`);
}

/** CPU time this thread has used, in ms. */
function threadCpuMs(): number {
  const u = process.threadCpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * The turns of the event loop while `work` runs, in this thread's CPU time: the longest turn, all of them together,
 * and how many. CPU time rather than a clock: on a loaded machine the process also waits for a core, within a turn
 * and between turns, which a clock counts as work holding the loop; the CPU time of a turn is the work it did.
 */
async function loopTurns(work: () => Promise<unknown>): Promise<{ longestMs: number; totalMs: number; turns: number }> {
  const start = threadCpuMs();
  let last = start;
  let longestMs = 0;
  let turns = 0;
  let running = true;
  // An immediate runs once per turn, after that turn's I/O: the time between two of them is one turn's work.
  const tick = () => {
    const now = threadCpuMs();
    longestMs = Math.max(longestMs, now - last);
    last = now;
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await work();
  } finally {
    running = false;
  }
  // The work's last stretch, since the last turn ended.
  const end = threadCpuMs();
  return { longestMs: Math.max(longestMs, end - last), totalMs: end - start, turns };
}

function view(raw: Buffer): SpooledMessage {
  return new SpooledMessage('q1', '/nonexistent/q1.eml', raw.length, raw.subarray(0, headerEnd(raw)), raw);
}

describe('a message with a 40 MB HTML body and 250,000 links', () => {
  it('is parsed without holding the event loop, the start of its text and links kept and the cut said', async function () {
    this.timeout(60_000);
    const raw = htmlMessage(40 * 1024 * 1024, 250_000);
    // mailparser is loaded on the first parse; in the gateway that happens once.
    await parseMime(Readable.from([`${HEAD}Content-Type: text/html\r\n\r\n<p>warm</p>\r\n`]));
    let parsed!: ParsedMessage;
    let hosts: Awaited<ReturnType<typeof distinctHosts>> = [];
    const loop = await loopTurns(async () => {
      parsed = await view(raw).parsed();
      hosts = await distinctHosts(parsed.urls, new Set(), 30);
    });
    // Holding the loop is doing a large share of the work in one turn. Read whole by mailparser, this message did
    // 0.46-0.52 of its work in one turn (1.1 s of CPU); read in pieces, 0.08-0.13, its longest turns being the
    // 20 ms slices of the link finder and the host counter. A share of CPU time, not a duration: a loaded machine
    // does not move it, and a faster or slower one moves the parts and the whole alike (all but those slices).
    const share = loop.longestMs / loop.totalMs;
    const seen = `longest turn ${loop.longestMs.toFixed(1)} ms of ${loop.totalMs.toFixed(1)} ms CPU in ${loop.turns} turns`;
    assert.ok(loop.turns >= 100, `the parse gave the loop turns: ${seen}`);
    assert.ok(share < 0.25, `one turn did ${(share * 100).toFixed(0)}% of the work: ${seen}`);
    assert.equal(parsed.textTruncated, true);
    assert.equal(parsed.malformed, false);
    // The start of the part, as text, HTML and links: what filters read; not the 40 MB.
    assert.match(parsed.text, /^openingword\nlink 0 x+\nlink 1 x+\n/);
    assert.doesNotMatch(parsed.text, /closing/);
    assert.doesNotMatch(parsed.text.slice(0, 1000), /margin|<p>/);
    assert.ok(parsed.html.startsWith('<html><head><style>'));
    assert.ok(parsed.html.length <= TEXT_PART_MAX_BYTES, `${parsed.html.length} characters of HTML kept`);
    assert.deepEqual(parsed.urls.slice(0, 2), ['https://www.site0.example/p/0', 'https://www.site1.example/p/1']);
    const links = parsed.urls.length;
    assert.ok(links > 10_000 && links < 20_000, `${links} links`);
    assert.equal(hosts.length, 30);
  });
});

describe('the text of a message over HTML_TO_TEXT_MAX_SIZE', () => {
  const pad = `<!-- ${'x'.repeat(HTML_TO_TEXT_MAX_SIZE)} -->`;

  it('holds a text/plain part and an HTML part beside it (not alternatives) both, as in a small message', async () => {
    const body = (padding: string) => `${HEAD}Content-Type: multipart/mixed; boundary=b\r\n\r\n`
      + '--b\r\nContent-Type: text/plain\r\n\r\nA note in plain text\r\n'
      + `--b\r\nContent-Type: text/html\r\n\r\n<p>Cheap <b>pills</b> at <a href="http://pills.example/">our shop</a></p>${padding}\r\n--b--\r\n`;
    const small = await view(Buffer.from(body(''))).parsed();
    assert.match(small.text, /A note in plain text\n[^]*Cheap pills at our shop/);
    const large = await view(Buffer.from(body(pad))).parsed();
    assert.equal(large.text, 'A note in plain text\nCheap pills at our shop');
    assert.deepEqual(large.urls, ['http://pills.example/']);
    assert.equal((large).textTruncated, false);
  });

  it('reads the HTML of an alternative whose plain part is empty', async () => {
    const raw = Buffer.from(`${HEAD}Content-Type: multipart/alternative; boundary=b\r\n\r\n`
      + '--b\r\nContent-Type: text/plain\r\n\r\n \r\n'
      + `--b\r\nContent-Type: text/html\r\n\r\n<p>The HTML version</p>${pad}\r\n--b--\r\n`);
    assert.equal((await view(raw).parsed()).text, ' \nThe HTML version');
  });
});

describe('the text of a large HTML-only message', () => {
  it('drops tags, comments, script, style and title; decodes references; one line per block', async () => {
    const html = '<html><head><title>T</title><style>p{color:red}</style></head><body><p>Hello&nbsp;&AMP; welcome</p>'
      + '<SCRIPT type="x">var a = "<p>no</p>";</script ><div>a &lt; b, 3 < 4 &#65;&#x42; &Eacute;t&eacute; &unknown;</div>'
      + '<!-- <p>hidden</p> --><a href="http://x.example/">v&shy;i&shy;a</a><br>line   with\r\n  spaces</body></html>';
    assert.equal(await htmlText(html), 'Hello & welcome\na < b, 3 < 4 AB Été &unknown;\nvia\nline with spaces');
  });

  it('runs an unclosed tag, comment or script to the end, as a browser does', async () => {
    assert.equal(await htmlText('kept <a href="x" never closed'), 'kept');
    assert.equal(await htmlText('kept <!-- never closed <p>x</p>'), 'kept');
    assert.equal(await htmlText('kept <style>never closed</p>'), 'kept');
    // But not a head that is never closed: the browser ends it at <body>.
    assert.equal(await htmlText('<head><title>t</title><body>shown'), 'shown');
  });

  it('decodes a reference that straddles one of its 256 KB pieces', async () => {
    for (let shift = 0; shift < 10; shift++) {
      const html = `${'a'.repeat(256 * 1024 - shift)}&eacute;&#233;b`;
      assert.equal(await htmlText(html), `${'a'.repeat(256 * 1024 - shift)}ééb`);
    }
  });

  it('is taken from the HTML only above HTML_TO_TEXT_MAX_SIZE: smaller mail keeps mailparser\'s text, link targets and all', async () => {
    const small = Buffer.from(`${HEAD}Content-Type: text/html\r\n\r\n<p>Buy <a href="http://shop.example/x">now</a></p>\r\n`);
    assert.equal((await view(small).parsed()).text, 'Buy now [http://shop.example/x]');
    const pad = `<!-- ${'x'.repeat(HTML_TO_TEXT_MAX_SIZE)} -->`;
    const large = Buffer.from(`${HEAD}Content-Type: text/html\r\n\r\n<p>Buy <a href="http://shop.example/x">now</a></p>${pad}\r\n`);
    const parsed = await view(large).parsed();
    assert.equal(parsed.text, 'Buy now');
    assert.deepEqual(parsed.urls, ['http://shop.example/x']);
  });

  it('is not used when the message has a text/plain part of its own', async () => {
    const pad = `<!-- ${'x'.repeat(HTML_TO_TEXT_MAX_SIZE)} -->`;
    const raw = Buffer.from(`${HEAD}Content-Type: multipart/alternative; boundary=b\r\n\r\n`
      + '--b\r\nContent-Type: text/plain\r\n\r\nThe plain version\r\n'
      + `--b\r\nContent-Type: text/html\r\n\r\n<p>The HTML version</p>${pad}\r\n--b--\r\n`);
    assert.equal((await view(raw).parsed()).text, 'The plain version');
  });
});
