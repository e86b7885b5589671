// Options of the haraka plugin (one entry per Haraka folder), with their defaults.
import { s, type Infer } from '../../core/index.ts';

export const configSchema = s.object({
  dir: s.string({ minLength: 1 })
    .describe('The Haraka folder, as for `haraka -c`: config/plugins, config/<name>.*, plugins/, node_modules/ (relative to the config file)'),
  dns_servers: s.array(s.string()).default([])
    .describe('Send the DNS queries of Haraka plugins (which build their own resolvers) to these `ip:port` servers; process-wide; empty leaves the system resolver'),
  log_level: s.string().optionalValue()
    .describe('Haraka log level (DATA … EMERG) for the plugins\' log calls; unset reads log.ini [main] level, else WARN'),
  scores: s.record(s.number()).default({})
    .describe('Score per finding symbol (HARAKA_<PLUGIN>_FAIL, HARAKA_<PLUGIN>_ERROR, HARAKA_KARMA); unlisted symbols score 0'),
  karma_factor: s.number().default(-0.5)
    .describe('HARAKA_KARMA scores karma\'s score times this; karma counts good behaviour as positive, so the factor is negative'),
});

export type HarakaConfig = Infer<typeof configSchema>;
