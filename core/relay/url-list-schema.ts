// A list of smarthost URLs in the config (`smarthost: [url, url]`, a route's `via`), tried in order by the relay.
import { s, type Issue, type Schema } from '../config/schema.ts';
import { checkCredentialsHaveTls, smtpUrl } from '../config/smtp-url-schema.ts';

/**
 * A list only, never a single string read as a list of one: beside the one-URL form in a union, a URL that cannot be
 * read must be faulted as that URL (`smarthost: …`), not as the first item of a list (`smarthost[0]: …`).
 */
function listOnly<T>(inner: Schema<T[]>): Schema<T[]> {
  const parse = (input: unknown, path: string, issues: Issue[]): T[] => {
    if (input !== undefined && input !== null && !Array.isArray(input)) { issues.push({ path, message: 'expected a list of smarthost URLs' }); return undefined as never; }
    if (Array.isArray(input) && input.length === 0) { issues.push({ path, message: 'is an empty list: name at least one smarthost' }); return undefined as never; }
    return inner.parse(input, path, issues);
  };
  return {
    // The items are the one-URL form's, documented there: no `[]` rows of their own.
    ...inner, children: undefined, parse,
    // Said beside the one-URL form, which names the URL's shape already.
    expected: () => 'a list of such URLs',
    describe: (text) => listOnly(inner.describe(text)),
    default: (value) => listOnly(inner.default(value)),
    optionalValue: () => listOnly(inner.optionalValue() as Schema<T[]>) as Schema<T[] | undefined>,
  };
}

/** Smarthost URLs tried in order, the first while it answers (the items' rows are left out of the docs). */
export const smtpUrlList = listOnly(s.array(smtpUrl));

/** One smarthost URL, or a list of them tried in order. */
export const smtpUrls = s.union(smtpUrl, smtpUrlList);

/** The URLs a `url` or `via` holds, in order. */
export const urlsOf = (v: string | string[]): string[] => (typeof v === 'string' ? [v] : v);

/** checkCredentialsHaveTls for each URL of a list, each problem said once. */
export function checkEachHasTls(target: { url?: string | string[]; starttls: string; user?: string; pass?: string }, at: string, issues: Issue[]): void {
  const found: Issue[] = [];
  for (const url of target.url === undefined ? [undefined] : urlsOf(target.url)) checkCredentialsHaveTls({ ...target, url }, at, found);
  const seen = new Set<string>();
  for (const i of found) if (!seen.has(`${i.path}\n${i.message}`)) { seen.add(`${i.path}\n${i.message}`); issues.push(i); }
}
