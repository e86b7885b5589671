// The AUTH users file: one `name:scrypt$N$r$p$salt$hash` line per user; passwords are never stored in plain text.
import { randomBytes, scryptSync, timingSafeEqual, scrypt as scryptCb } from 'node:crypto';
import { readFileSync, existsSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { FairTurns, type TurnPlace } from './fair-turns.ts';
import type { AuthStanding, CheckClient } from './auth-failures.ts';

const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;
const N = 16384, R = 8, P = 1, LEN = 32;

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, LEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/**
 * scrypt runs on libuv's thread pool, whose four threads also do every file write and fsync of the queue. With no
 * bound, AUTH guesses on a few dozen connections filled the pool and each write of an accepted message waited behind
 * all of them (a plain message took 2–9 s instead of 0.1 s under a flood from 100 connections); only this many run at
 * once. The rest wait their turn here, where nothing else waits behind them, in rotation by client: a guesser's pile
 * of attempts no longer sits in front of a real user's login.
 */
const MAX_CONCURRENT_SCRYPT = 1;
const scryptTurns = new FairTurns(MAX_CONCURRENT_SCRYPT);

/**
 * Guessers spread over many addresses each stay under the ban, and in one rotation a real user waited a check per
 * guessing address (46 s behind 100 of them). So a client's checks wait by its standing: after every check of
 * clients that logged in lately, and those of clients never seen before, come those of clients with failures.
 * These may have at most this many checks waiting (2 s of scrypt); more get 454 at once, without a check: a guesser
 * cannot pile up work, and a user who mistyped during such an attack is told to try again shortly.
 */
export const MAX_WAITING_AFTER_FAILURES = 32;
const PLACES: Record<AuthStanding, TurnPlace> = {
  known: { rank: 0 },
  new: { rank: 1 },
  failing: { rank: 2, maxWaiting: MAX_WAITING_AFTER_FAILURES },
};

/** Checks waiting now for clients of each standing (for tests). */
export function checksWaiting(standing: AuthStanding): number { return scryptTurns.queuedAt(PLACES[standing].rank); }

/**
 * `client`: whose turn it is to wait for (the client's counted address or network), with its standing; a bare key is
 * a client never seen, and one queue when omitted. Throws TurnsFull when the checks of its standing are full.
 */
export async function verifyPassword(password: string, stored: string, client: string | CheckClient = ''): Promise<boolean> {
  const [kind, n, r, p, salt, hash] = stored.split('$');
  if (kind !== 'scrypt' || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const opts = { N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024 };
  const { key, standing } = typeof client === 'string' ? { key: client, standing: 'new' as const } : client;
  const got = await scryptTurns.run(key, () => scrypt(password, Buffer.from(salt, 'base64'), expected.length, opts), PLACES[standing]);
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/**
 * What an unknown user's password is checked against: random salt and hash with the real parameters. Made once, and
 * not with scryptSync per attempt, which held the event loop ~40 ms for every guess at a name that does not exist.
 */
const UNKNOWN_USER_HASH = `scrypt$${N}$${R}$${P}$${randomBytes(16).toString('base64')}$${randomBytes(LEN).toString('base64')}`;

export class UsersFile {
  readonly file: string;
  constructor(file: string) { this.file = file; }

  read(): Map<string, string> {
    const users = new Map<string, string>();
    if (!existsSync(this.file)) return users;
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#')) continue;
      const i = t.indexOf(':');
      if (i > 0) users.set(t.slice(0, i), t.slice(i + 1));
    }
    return users;
  }

  private write(users: Map<string, string>): void {
    // The users file sits in data_dir, which is the gateway's alone (core/data-dir.ts), even before its first start.
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, [...users].map(([u, h]) => `${u}:${h}`).join('\n') + '\n', { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  add(user: string, password: string): void {
    if (!/^[^\s:]+$/.test(user)) throw new Error('a user name cannot contain spaces or colons');
    const users = this.read();
    users.set(user, hashPassword(password));
    this.write(users);
  }

  remove(user: string): boolean {
    const users = this.read();
    const had = users.delete(user);
    if (had) this.write(users);
    return had;
  }

  /** `client`: the key the asking client is counted under, with its standing, so checks are shared out fairly. */
  async check(user: string, password: string, client: string | CheckClient = ''): Promise<boolean> {
    const stored = this.read().get(user);
    // An unknown user costs the same scrypt as a known one, so the time of a refusal does not tell which names exist.
    if (!stored) { await verifyPassword(password, UNKNOWN_USER_HASH, client); return false; }
    return verifyPassword(password, stored, client);
  }
}
