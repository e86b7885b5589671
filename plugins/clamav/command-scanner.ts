// The generic command-line scanner: runs a configured command on a file and reads its exit code.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ScanError, type ScanResult } from './scan-result.ts';
import type { CommandConfig } from './config.ts';

/** Splits a template into argv (double quotes group words) and puts `file` where `{file}` stands, or last. */
export function commandLine(template: string, file: string): string[] {
  const words = [...template.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]);
  if (!words.some((w) => w.includes('{file}'))) words.push('{file}');
  return words.map((w) => w.replaceAll('{file}', file));
}

export class CommandScanner {
  private readonly cfg: CommandConfig;
  private readonly timeout: number;
  private readonly pattern: RegExp;

  constructor(cfg: CommandConfig, timeout: number) {
    this.cfg = cfg;
    this.timeout = timeout;
    this.pattern = new RegExp(cfg.virus_pattern, 'gm');
  }

  get description(): string { return `command ${commandLine(this.cfg.template, '{file}')[0]}`; }

  /** Scans a file in place (the spool file: no copy is made). */
  scanFile(file: string): Promise<ScanResult> {
    const [cmd, ...args] = commandLine(this.cfg.template, file);
    return new Promise((resolve, reject) => {
      execFile(cmd, args, { timeout: this.timeout, killSignal: 'SIGKILL', maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (e?.killed) return reject(new ScanError('timeout', `${cmd} did not finish within ${this.timeout} ms`));
        if (e && typeof e.code === 'string') return reject(new ScanError('unreachable', `${cmd}: ${e.code}`));
        const code = e ? Number(e.code) : 0;
        if (this.cfg.clean_exit_codes.includes(code)) return resolve({ infected: false });
        if (this.cfg.infected_exit_codes.includes(code)) {
          const names = [...`${stdout}\n${stderr}`.matchAll(this.pattern)].map((m) => m[1]?.trim()).filter(Boolean);
          return resolve({ infected: true, viruses: names.length ? [...new Set(names)] : [`unknown (${cmd} exit code ${code})`] });
        }
        const said = `${stderr}`.trim().split('\n').pop() ?? '';
        reject(new ScanError('error', `${cmd} exited with code ${code}${said ? `: ${said}` : ''}`));
      });
    });
  }

  /** Writes the content to a private temporary file, scans it and removes it. */
  async scanBuffer(content: Buffer): Promise<ScanResult> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mailmoat-scan-'));
    const file = path.join(dir, 'part');
    try {
      await writeFile(file, content, { mode: 0o600 });
      return await this.scanFile(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
