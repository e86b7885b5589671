// server.proxy_protocol in settings where it can never work, refused at check-config, start and reload rather than
// found in production. Without server.trusted_proxies no peer may send a header: the proxy's header was read as the
// client talking before the greeting, and every connection through it got `421 4.4.2 You talk too soon`, logged as
// a client refusal. Without a listener that reads the header (listen or submission_listen; tls_listen begins with
// the TLS handshake) it would read none at all.
import type { Issue } from '../config/schema.ts';

interface ServerKeys { proxy_protocol: boolean; trusted_proxies: readonly string[]; listen: readonly string[]; submission_listen: readonly string[] }

/** Issues of server.proxy_protocol; a key with its own issue (not a list) is left to that issue. */
export function proxyProtocolIssues(server: ServerKeys | undefined, p: string): Issue[] {
  if (server?.proxy_protocol !== true) return [];
  const path = `${p ? `${p}.` : ''}server.proxy_protocol`;
  const issues: Issue[] = [];
  const none = (list: readonly string[] | undefined) => Array.isArray(list) && list.length === 0;
  if (none(server.trusted_proxies)) {
    issues.push({ path, message: 'needs server.trusted_proxies naming the proxies that send the header: from any other peer no header is read, so a proxy\'s header would be taken for the client talking before the greeting and every connection through it refused (421 You talk too soon)' });
  }
  if (none(server.listen) && none(server.submission_listen)) {
    issues.push({ path, message: 'needs server.listen or server.submission_listen: the header is read there only, as a tls_listen connection begins with the TLS handshake' });
  }
  return issues;
}
