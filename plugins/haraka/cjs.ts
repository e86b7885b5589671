// The CommonJS side of the shim: Haraka's packages are CJS and plugins check identity, so every class comes from here.
import { createRequire } from 'node:module';
import path from 'node:path';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Any = any;

export const requireCjs = createRequire(import.meta.url);

/** The installed `haraka` package (core plugins such as rcpt_to.in_host_list, its default config, transaction.js). */
export const HARAKA_DIR = path.dirname(requireCjs.resolve('haraka/package.json'));

/**
 * haraka-config and haraka-results read `process.env.HARAKA` when first loaded, so the first shim entry pins it.
 * Later entries with another folder get their own `module_config` instances instead.
 */
export function pinHarakaRoot(dir: string): void {
  if (!process.env.HARAKA) process.env.HARAKA = dir;
}

export const constants: Any = requireCjs('haraka-constants');

let cached: Record<string, Any> | undefined;

/** The helper packages, loaded on first use (after pinHarakaRoot). */
export function haraka(): {
  config: Any; Notes: Any; ResultStore: Any; DSN: Any; Address: Any; utils: Any; netUtils: Any; Transaction: Any;
} {
  cached ??= {
    config: requireCjs('haraka-config'),
    Notes: requireCjs('haraka-notes'),
    ResultStore: requireCjs('haraka-results'),
    DSN: requireCjs('haraka-dsn'),
    Address: requireCjs('@haraka/email-address').Address,
    utils: requireCjs('haraka-utils'),
    netUtils: requireCjs('haraka-net-utils'),
    // Haraka's own Transaction (data parsing, attachment hooks, message_stream), from the installed package.
    Transaction: requireCjs(path.join(HARAKA_DIR, 'transaction.js')).Transaction,
  };
  return cached as ReturnType<typeof haraka>;
}
