// `moat dkim keygen DOMAIN SELECTOR`: a new DKIM key in a file of mode 0600, and the TXT record that publishes it.
import { notADomain } from '../../core/config/domain-name.ts';
import { SELECTOR } from '../../core/dkim/config.ts';
import { dkimZoneLine } from '../../core/dkim/dns-record.ts';
import { signingName } from '../../core/dkim/keyring.ts';
import { rsaBitsProblem, writeNewKey } from '../../core/dkim/keygen.ts';
import { readCommand, USAGE_ERROR } from './args.ts';

const USAGE = `usage: moat dkim keygen DOMAIN SELECTOR [--bits 2048] [--type rsa|ed25519] [--out FILE]
  writes a new private key to FILE (default DOMAIN.SELECTOR.key here; never over an existing file), mode 0600,
  and prints the DNS TXT record to publish; then set dkim.domains.DOMAIN: { selector: SELECTOR, key_file: FILE }`;

const OPTIONS = {
  bits: { type: 'string' },
  type: { type: 'string' },
  out: { type: 'string', short: 'o' },
} as const;

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const [action, domain, selector, extra] = parsed.positionals;
  if (action !== 'keygen' || !domain || !selector || extra !== undefined) { console.error(USAGE); return USAGE_ERROR; }
  const bad = notADomain(domain);
  if (bad) { console.error(`${domain} ${bad}`); return USAGE_ERROR; }
  if (!SELECTOR.test(selector)) { console.error(`${selector} is no selector: one or more DNS labels, such as s1 or 2024-05`); return USAGE_ERROR; }
  const type = parsed.values.type ?? 'rsa';
  if (type !== 'rsa' && type !== 'ed25519') { console.error(`--type must be rsa or ed25519\n\n${USAGE}`); return USAGE_ERROR; }
  const bits = Number(parsed.values.bits ?? 2048);
  const bitsProblem = type === 'rsa' ? rsaBitsProblem(bits) : undefined;
  if (bitsProblem) { console.error(`${bitsProblem}\n\n${USAGE}`); return USAGE_ERROR; }
  const file = parsed.values.out ?? `${domain}.${selector}.key`;
  let key;
  // Said in words rather than a bare errno: which folder is missing, or that the file is there already.
  try { key = writeNewKey(file, type, bits); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    console.error(code === 'EEXIST' ? `${file} exists already (EEXIST): keygen never writes over a file, which may be a key in use` : code ? `cannot write ${file}: ${code}` : (e as Error).message);
    return 1;
  }
  process.stderr.write(`private key written to ${file} (mode 0600); publish this record:\n`);
  // Under the name DNS and d= use (A-labels, lower case), as doctor names it: a Unicode name is no zone name.
  process.stdout.write(`${dkimZoneLine(signingName(domain), selector, key)}\n`);
  return 0;
}
