// A small argument parser shared by the CLI commands: --flag, --key value, --key=value, repeatable keys, positionals.
export interface ParsedArgs { flags: Map<string, string[]>; positional: string[] }

export function parseArgs(argv: string[], booleans: string[] = []): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positional: string[] = [];
  const add = (k: string, v: string) => { const l = flags.get(k) ?? []; l.push(v); flags.set(k, l); };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') { positional.push(...argv.slice(i + 1)); break; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) { add(a.slice(2, eq), a.slice(eq + 1)); continue; }
      const k = a.slice(2);
      if (booleans.includes(k) || i + 1 >= argv.length || argv[i + 1].startsWith('--')) add(k, 'true');
      else add(k, argv[++i]);
    } else positional.push(a);
  }
  return { flags, positional };
}

export function flag(args: ParsedArgs, name: string): string | undefined { return args.flags.get(name)?.at(-1); }
export function flags(args: ParsedArgs, name: string): string[] { return args.flags.get(name) ?? []; }
