// `moat user add|remove|list`: the AUTH users file (scrypt hashes); the password is read from a prompt or stdin, never an argument.
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { loadConfig } from '../../core/config/load.ts';
import { UsersFile } from '../../core/auth/users-file.ts';
import { CONFIG_OPTIONS, readCommand, USAGE_ERROR } from './args.ts';

const USAGE = 'usage: moat user add|remove|list [NAME] [--config FILE] [--set KEY=VALUE]…   (add reads the password from the prompt or stdin)';

async function readPassword(): Promise<string> {
  const tty = process.stdin.isTTY === true;
  // On a terminal readline echoes what is typed to its output: it gets one that shows nothing, so the password stays off the screen.
  const hidden = new Writable({ write: (_chunk, _enc, done) => done() });
  const rl = createInterface({ input: process.stdin, output: tty ? hidden : undefined, terminal: tty });
  if (tty) process.stderr.write('Password: ');
  const line = await new Promise<string>((resolve) => rl.once('line', resolve).once('close', () => resolve('')));
  rl.close();
  if (tty) process.stderr.write('\n');
  return line.replace(/\r?\n$/, '');
}

export async function run(argv: string[]): Promise<number> {
  const parsed = readCommand(argv, CONFIG_OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const [action, name] = parsed.positionals;
  const { config } = await loadConfig({ file: parsed.values.config, overrides: parsed.values.set ?? [] });
  const users = new UsersFile(config.auth.users_file || path.join(config.data_dir, 'users'));
  switch (action) {
    case 'add': {
      if (!name) { console.error(USAGE); return USAGE_ERROR; }
      const pw = await readPassword();
      if (!pw) { process.stderr.write('empty password refused\n'); return 1; }
      users.add(name, pw);
      process.stdout.write(`user ${name} saved in ${users.file}\n`);
      return 0;
    }
    case 'remove':
      if (!name) { console.error(USAGE); return USAGE_ERROR; }
      if (!users.remove(name)) { process.stderr.write(`no user ${name}\n`); return 1; }
      process.stdout.write(`user ${name} removed\n`);
      return 0;
    case 'list':
      for (const u of users.read().keys()) process.stdout.write(`${u}\n`);
      return 0;
    default:
      console.error(USAGE);
      return USAGE_ERROR;
  }
}
