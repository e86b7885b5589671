// RFC 7489 Appendix C, the aggregate report's XML schema, as far as it can be checked here without an XSD validator:
// each complex type's elements (their order under xs:sequence, any order under xs:all), how often each may occur, and
// the enumerations, integers and IP address pattern of the simple types. The report is parsed by fast-xml-parser (a
// dependency of mailauth), a reader independent of the code that wrote it.
import { gunzipSync } from 'node:zlib';
import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** An element as fast-xml-parser gives it with `preserveOrder`: its name and its children, text as `#text`. */
export interface XmlNode { name: string; children: XmlNode[]; text: string }

type SimpleType = 'string' | 'integer' | 'decimal' | 'ip' | readonly string[];
interface ElementDecl { name: string; type: SimpleType | ComplexType; min?: number; max?: number }
interface ComplexType { order: 'sequence' | 'all'; elements: ElementDecl[] }

const ALIGNMENT = ['r', 's'] as const;
const DISPOSITION = ['none', 'quarantine', 'reject'] as const;
const DMARC_RESULT = ['pass', 'fail'] as const;
const OVERRIDE = ['forwarded', 'sampled_out', 'trusted_forwarder', 'mailing_list', 'local_policy', 'other'] as const;
const DKIM_RESULT = ['none', 'pass', 'fail', 'policy', 'neutral', 'temperror', 'permerror'] as const;
const SPF_RESULT = ['none', 'neutral', 'pass', 'fail', 'softfail', 'temperror', 'permerror'] as const;
const UNBOUNDED = Infinity;

const DATE_RANGE: ComplexType = { order: 'all', elements: [{ name: 'begin', type: 'integer' }, { name: 'end', type: 'integer' }] };
const REPORT_METADATA: ComplexType = {
  order: 'sequence',
  elements: [
    { name: 'org_name', type: 'string' }, { name: 'email', type: 'string' },
    { name: 'extra_contact_info', type: 'string', min: 0 }, { name: 'report_id', type: 'string' },
    { name: 'date_range', type: DATE_RANGE }, { name: 'error', type: 'string', min: 0, max: UNBOUNDED },
  ],
};
const POLICY_PUBLISHED: ComplexType = {
  order: 'all',
  elements: [
    { name: 'domain', type: 'string' }, { name: 'adkim', type: ALIGNMENT, min: 0 }, { name: 'aspf', type: ALIGNMENT, min: 0 },
    { name: 'p', type: DISPOSITION }, { name: 'sp', type: DISPOSITION }, { name: 'pct', type: 'integer' }, { name: 'fo', type: 'string' },
  ],
};
const REASON: ComplexType = { order: 'all', elements: [{ name: 'type', type: OVERRIDE }, { name: 'comment', type: 'string', min: 0 }] };
const POLICY_EVALUATED: ComplexType = {
  order: 'sequence',
  elements: [
    { name: 'disposition', type: DISPOSITION }, { name: 'dkim', type: DMARC_RESULT }, { name: 'spf', type: DMARC_RESULT },
    { name: 'reason', type: REASON, min: 0, max: UNBOUNDED },
  ],
};
const ROW: ComplexType = {
  order: 'sequence',
  elements: [{ name: 'source_ip', type: 'ip' }, { name: 'count', type: 'integer' }, { name: 'policy_evaluated', type: POLICY_EVALUATED }],
};
const IDENTIFIERS: ComplexType = {
  order: 'sequence',
  elements: [{ name: 'envelope_to', type: 'string', min: 0 }, { name: 'envelope_from', type: 'string' }, { name: 'header_from', type: 'string' }],
};
const DKIM_AUTH: ComplexType = {
  order: 'all',
  elements: [{ name: 'domain', type: 'string' }, { name: 'selector', type: 'string', min: 0 }, { name: 'result', type: DKIM_RESULT }, { name: 'human_result', type: 'string', min: 0 }],
};
const SPF_AUTH: ComplexType = {
  order: 'all',
  elements: [{ name: 'domain', type: 'string' }, { name: 'scope', type: ['helo', 'mfrom'], min: 0 }, { name: 'result', type: SPF_RESULT }],
};
const AUTH_RESULTS: ComplexType = {
  order: 'sequence',
  elements: [{ name: 'dkim', type: DKIM_AUTH, min: 0, max: UNBOUNDED }, { name: 'spf', type: SPF_AUTH, min: 1, max: UNBOUNDED }],
};
const RECORD: ComplexType = {
  order: 'sequence',
  elements: [{ name: 'row', type: ROW }, { name: 'identifiers', type: IDENTIFIERS }, { name: 'auth_results', type: AUTH_RESULTS }],
};
const FEEDBACK: ComplexType = {
  order: 'sequence',
  elements: [
    { name: 'report_metadata', type: REPORT_METADATA }, { name: 'policy_published', type: POLICY_PUBLISHED },
    { name: 'record', type: RECORD, min: 1, max: UNBOUNDED },
  ],
};

// The schema's IPAddress pattern: dotted IPv4, or IPv6 as eight groups.
const IP = /^(((1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])\.){3}(1?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])|([A-Fa-f0-9]{1,4}:){7}[A-Fa-f0-9]{1,4})$/;

function simpleProblem(type: SimpleType, value: string): string | undefined {
  if (type === 'string') return undefined;
  if (type === 'integer') return /^[+-]?\d+$/.test(value) ? undefined : `not an integer: ${JSON.stringify(value)}`;
  if (type === 'decimal') return /^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(value) ? undefined : `not a decimal: ${JSON.stringify(value)}`;
  if (type === 'ip') return IP.test(value) ? undefined : `not an IPAddress: ${JSON.stringify(value)}`;
  return type.includes(value) ? undefined : `${JSON.stringify(value)} is none of ${type.join(', ')}`;
}

function check(node: XmlNode, type: SimpleType | ComplexType, path: string, problems: string[]): void {
  if (typeof type === 'string' || Array.isArray(type)) {
    if (node.children.length) problems.push(`${path}: a simple type holds no elements`);
    const p = simpleProblem(type as SimpleType, node.text);
    if (p) problems.push(`${path}: ${p}`);
    return;
  }
  const complex = type as ComplexType;
  if (node.text.trim()) problems.push(`${path}: text where only elements may be`);
  const kids = node.children;
  if (complex.order === 'sequence') {
    let i = 0;
    for (const decl of complex.elements) {
      let n = 0;
      while (i < kids.length && kids[i].name === decl.name) { check(kids[i], decl.type, `${path}/${decl.name}`, problems); i++; n++; }
      if (n < (decl.min ?? 1)) problems.push(`${path}: ${decl.name} missing or out of order`);
      if (n > (decl.max ?? 1)) problems.push(`${path}: ${decl.name} ${n} times`);
    }
    for (; i < kids.length; i++) problems.push(`${path}: unexpected ${kids[i].name}`);
    return;
  }
  for (const decl of complex.elements) {
    const found = kids.filter((k) => k.name === decl.name);
    if (found.length < (decl.min ?? 1)) problems.push(`${path}: ${decl.name} missing`);
    if (found.length > 1) problems.push(`${path}: ${decl.name} ${found.length} times`);
    for (const k of found) check(k, decl.type, `${path}/${decl.name}`, problems);
  }
  for (const k of kids) if (!complex.elements.some((d) => d.name === k.name)) problems.push(`${path}: unexpected ${k.name}`);
}

type Parsed = Array<Record<string, unknown>>;

function toNodes(items: Parsed): XmlNode[] {
  const out: XmlNode[] = [];
  for (const item of items) {
    const name = Object.keys(item).find((k) => k !== ':@');
    if (!name || name === '#text' || name.startsWith('?')) continue;
    const inner = item[name] as Parsed;
    const text = inner.filter((c) => '#text' in c).map((c) => String(c['#text'])).join('');
    out.push({ name, children: toNodes(inner), text });
  }
  return out;
}

/** The document element of the gzipped XML, after checking that the XML is well-formed. */
export function readReport(gz: Buffer): { xml: string; root: XmlNode } {
  const xml = gunzipSync(gz).toString('utf8');
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`report XML is not well-formed: ${JSON.stringify(valid)}`);
  const parsed = new XMLParser({ preserveOrder: true, parseTagValue: false, trimValues: true, processEntities: true }).parse(xml) as Parsed;
  const roots = toNodes(parsed);
  if (roots.length !== 1) throw new Error(`report XML has ${roots.length} document elements`);
  return { xml, root: roots[0] };
}

/** What in `root` breaks RFC 7489 Appendix C's schema; empty when nothing does. */
export function schemaProblems(root: XmlNode): string[] {
  const problems: string[] = [];
  if (root.name !== 'feedback') problems.push(`document element is ${root.name}, not feedback`);
  check(root, FEEDBACK, 'feedback', problems);
  return problems;
}

/** The element at a path of element names below `node` (`policy_published/p`); throws when it is not there. */
export function nodeAt(node: XmlNode, path: string): XmlNode {
  let at = node;
  for (const name of path.split('/')) {
    const next = at.children.find((c) => c.name === name);
    if (!next) throw new Error(`no ${name} under ${at.name} (path ${path})`);
    at = next;
  }
  return at;
}

export const textAt = (node: XmlNode, path: string): string => nodeAt(node, path).text;

export function all(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c) => c.name === name);
}
