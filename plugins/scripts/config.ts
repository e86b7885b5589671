// Options of the scripts plugin (filter scripts in a sandbox), with their defaults.
import { s, type Infer } from '../../core/index.ts';

export const configSchema = s.object({
  scripts: s.array(s.string({ minLength: 1 })).default([])
    .describe('Filter script files (JavaScript), relative to the config file\'s folder; each runs on every message, all at once'),
  // Not `timeout`: that key of a plugin entry is the core's limit for the whole hook call, which must stay above this.
  script_timeout: s.duration({ min: 10, max: 60_000 }).default(1_000)
    .describe('Wall-clock time a script has per message; past it its sandbox process is killed and replaced. Keep the entry\'s `timeout` (the whole hook, 30s) above max_wait + script_timeout'),
  pool_size: s.number({ integer: true, min: 1, max: 64 }).default(2)
    .describe('Sandbox processes per script (about 30 MB of memory each, so scripts x pool_size x 30 MB in all); each holds one script and runs one call at a time'),
  max_wait: s.duration({ min: 10, max: 60_000 }).default(5_000)
    .describe('How long a call waits for a free sandbox process before it counts as a failure'),
  memory: s.size({ min: 16 * 1024 * 1024, max: 4096 * 1024 * 1024 }).default(128 * 1024 * 1024)
    .describe('Heap cap of each sandbox process (--max-old-space-size); a script past it fails and its process is replaced'),
  on_error: s.enum(['tempfail', 'skip'] as const).default('tempfail')
    .describe('A script that throws, times out, crashes or returns a bad shape: `tempfail` (451 4.3.0) or `skip` with a SCRIPT_FAILED finding of score 0'),
  // As the rules plugin's on_mime_incomplete, and by default the same: an attachment past where the parse stopped
  // is unknown to every script, not harmless, so a filter the admin relies on is not bypassed by nesting it deeper.
  on_incomplete: s.enum(['reject', 'quarantine', 'run'] as const).default('reject')
    .describe('A message whose attachments the scripts cannot all be shown (MIME structure not read to its end, or more attachments than a snapshot lists): `reject` (554 5.7.1) or `quarantine` before any script runs, or `run` the scripts, which see structureIncomplete and attachmentsTruncated'),
  max_text: s.size({ min: 0, max: 2 * 1024 * 1024 }).default(64 * 1024)
    .describe('Characters of decoded text a script gets (`text`, cut there with `textTruncated` set)'),
});

export type ScriptsConfig = Infer<typeof configSchema>;
