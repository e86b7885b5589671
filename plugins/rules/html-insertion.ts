// Where a disclaimer can go into an HTML part so that the reader sees it. The last `</body>` string is not that place
// when it sits in a comment, an attribute value or a script: the text then lands where no browser shows it. This
// walks the markup as HTML's tokenizer does in outline (comments, declarations, tags with quoted values, the raw text
// of script, style, textarea, title and their kind), in one pass that jumps from `<` to `<`, and notes only the
// places that are in the data state: text a parser makes a node of the page.

/** Elements whose content is raw text to the tokenizer up to their own end tag: no markup inside them counts. */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp', 'iframe', 'noembed', 'noframes']);

interface HtmlPlaces {
  /** Just past the first `<body …>` start tag that is markup. */
  bodyOpenEnd?: number;
  /** The start of the last `</body>` end tag that is markup. */
  bodyClose?: number;
  /** The start of the last `</html>` end tag that is markup. */
  htmlClose?: number;
  /**
   * Where the construct still open at the end of the HTML starts (an unclosed comment, tag, quoted value, script,
   * `<plaintext>`): the last place in the data state. Absent when the end itself is in the data state.
   */
  openAt?: number;
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f';
const isLetter = (c: string | undefined) => c !== undefined && /^[A-Za-z]$/.test(c);

/** Where the tag starting at `lt` ends (just past its `>`), and its lower-case name; `end` -1 when it never closes. */
function readTag(s: string, lower: string, lt: number): { name: string; end: number } {
  let i = lt + (s[lt + 1] === '/' ? 2 : 1);
  const nameStart = i;
  while (i < s.length && !isSpace(s[i]) && s[i] !== '/' && s[i] !== '>') i++;
  const name = lower.slice(nameStart, i);
  let afterEquals = false;
  while (i < s.length) {
    const c = s[i];
    if (c === '>') return { name, end: i + 1 };
    if (c === '=') { afterEquals = true; i++; continue; }
    if (afterEquals && isSpace(c)) { i++; continue; }
    if (afterEquals && (c === '"' || c === '\'')) {
      // A quoted value runs to its own quote, `>` and all.
      const close = s.indexOf(c, i + 1);
      if (close < 0) return { name, end: -1 };
      i = close + 1;
      afterEquals = false;
      continue;
    }
    afterEquals = false;
    i++;
  }
  return { name, end: -1 };
}

/** Just past the end tag of raw-text element `name` found from `from`, or -1 when it is never closed. */
function rawTextEnd(s: string, lower: string, name: string, from: number): number {
  for (let at = lower.indexOf(`</${name}`, from); at >= 0; at = lower.indexOf(`</${name}`, at + 2)) {
    const next = s[at + 2 + name.length];
    if (next === undefined || isSpace(next) || next === '/' || next === '>') {
      const { end } = readTag(s, lower, at);
      return end;
    }
  }
  return -1;
}

/** Just past the comment starting at `lt` (`<!--`), or -1 when it is never closed. */
function commentEnd(s: string, lt: number): number {
  // `<!-->` and `<!--->` are whole (empty) comments to the tokenizer.
  if (s.startsWith('>', lt + 4)) return lt + 5;
  if (s.startsWith('->', lt + 4)) return lt + 6;
  const dashes = s.indexOf('-->', lt + 4);
  const bang = s.indexOf('--!>', lt + 4);
  if (dashes < 0 && bang < 0) return -1;
  if (bang < 0 || (dashes >= 0 && dashes < bang)) return dashes + 3;
  return bang + 4;
}

/** The places in `s` (an HTML part's content, one character per byte) that are markup the reader's browser sees as such. */
function htmlPlaces(s: string): HtmlPlaces {
  const lower = s.toLowerCase();
  const places: HtmlPlaces = {};
  let i = 0;
  for (let lt = s.indexOf('<'); lt >= 0; lt = s.indexOf('<', i)) {
    const next = s[lt + 1];
    let end: number;
    if (s.startsWith('<!--', lt)) end = commentEnd(s, lt);
    else if (next === '!' || next === '?' || (next === '/' && s[lt + 2] === '>')) {
      // A declaration, a processing instruction or a bogus comment: up to the next `>`.
      const gt = s.indexOf('>', lt + 2);
      end = gt < 0 ? -1 : gt + 1;
    } else if (isLetter(next) || (next === '/' && isLetter(s[lt + 2]))) {
      const tag = readTag(s, lower, lt);
      end = tag.end;
      if (end >= 0 && next === '/') {
        if (tag.name === 'body') places.bodyClose = lt;
        else if (tag.name === 'html') places.htmlClose = lt;
      } else if (end >= 0) {
        if (tag.name === 'body') places.bodyOpenEnd ??= end;
        if (tag.name === 'plaintext') end = -1;
        else if (RAW_TEXT.has(tag.name)) end = rawTextEnd(s, lower, tag.name, end);
      }
    } else {
      // A `<` that opens nothing is text.
      end = lt + 1;
    }
    if (end < 0) { places.openAt = lt; return places; }
    i = end;
  }
  return places;
}

/**
 * Where a disclaimer goes: at the end, before the last `</body>` (else `</html>`) that is markup, else at the
 * end, or where what is left open at the end starts (before an unclosed comment, it shows above it); at the top,
 * just after `<body>`, else at the start.
 */
export function htmlInsertionPoint(s: string, position: 'top' | 'end'): number {
  const places = htmlPlaces(s);
  if (position === 'top') return places.bodyOpenEnd ?? 0;
  return places.bodyClose ?? places.htmlClose ?? places.openAt ?? s.length;
}
