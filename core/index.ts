// The public API of Mailmoat's core: the only module a plugin imports.
export { definePlugin, PluginUnavailableError } from './plugin/define.ts';
export { describeSymbols, symbolScore } from './plugin/scored-symbols.ts';
export type { ScoredSymbols } from './plugin/scored-symbols.ts';
export type { PluginDefinition, PluginInstance, PluginSetup, HookHandler, HookHandlers } from './plugin/define.ts';
export { outcome, isOutcome } from './hooks/outcome.ts';
export type { Outcome, OutcomeAction } from './hooks/outcome.ts';
export { HOOK_NAMES } from './hooks/hook-names.ts';
export type { HookName } from './hooks/hook-names.ts';
export type { HookContext, SessionView, Address, Services, ListenerKind } from './hooks/context.ts';
export type { MessageView, ParsedMessage, HeaderList, HeaderField, Attachment } from './message/types.ts';
export type { Finding, Verdict, VerdictAction, SpamLevel } from './verdict/types.ts';
export type { Logger, LogFields, LogLevel } from './log/types.ts';
export { DnsError } from './dns/types.ts';
export type { DnsResolver, MxRecord, DnsErrorCode } from './dns/types.ts';
export type { StateStore } from './store/types.ts';
export { s } from './config/schema.ts';
export type { Schema, Infer } from './config/schema.ts';
export { parseDuration, parseSize } from './config/units.ts';
