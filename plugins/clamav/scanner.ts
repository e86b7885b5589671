// One face for both scanners: clamd over a socket, or a command-line program.
import path from 'node:path';
import { Readable } from 'node:stream';
import { ClamdClient, type ClamdTarget } from './clamd-client.ts';
import { CommandScanner } from './command-scanner.ts';
import type { ClamavConfig } from './config.ts';
import type { ScanResult } from './scan-result.ts';

export interface Scanner {
  /** What scans, for log lines: `clamd unix:/run/clamav/clamd.ctl`. */
  readonly description: string;
  /** Scans the spooled message without reading it into memory. */
  scanMessage(message: { path: string; stream(): Readable }): Promise<ScanResult>;
  /** Scans one piece of content, such as a decoded MIME part. */
  scanBuffer(content: Buffer): Promise<ScanResult>;
  /** Whether the scanner answers now, for telling a size refusal from a scanner that went away. */
  answers?(): Promise<boolean>;
}

/** Where clamd listens according to the options; throws when they name no place. */
export function clamdTarget(cfg: Pick<ClamavConfig, 'socket' | 'host' | 'port'>, configDir: string): ClamdTarget {
  if (cfg.socket) return { socket: path.resolve(configDir, cfg.socket) };
  if (cfg.host || cfg.port) return { host: cfg.host ?? '127.0.0.1', port: cfg.port ?? 3310 };
  throw new Error('clamav: set `socket` (clamd\'s LocalSocket) or `host`/`port` (its TCPSocket)');
}

export function createClamdClient(cfg: ClamavConfig, configDir: string): ClamdClient {
  return new ClamdClient({ target: clamdTarget(cfg, configDir), connectTimeout: cfg.connect_timeout, scanTimeout: cfg.scan_timeout });
}

export function createScanner(cfg: ClamavConfig, configDir: string): Scanner {
  if (cfg.scanner === 'command') {
    if (!cfg.command) throw new Error('clamav: `scanner: command` needs a `command` with a `template`');
    const cmd = new CommandScanner(cfg.command, cfg.scan_timeout);
    return { description: cmd.description, scanMessage: (m) => cmd.scanFile(m.path), scanBuffer: (b) => cmd.scanBuffer(b) };
  }
  const client = createClamdClient(cfg, configDir);
  return {
    description: `clamd ${client.address}`,
    scanMessage: (m) => client.scan(m.stream()),
    scanBuffer: (b) => client.scan(Readable.from([b])),
    answers: () => client.ping().catch(() => false),
  };
}
