// What a DKIM or ARC selector may be: one or more DNS labels put in front of `_domainkey.` (RFC 6376 §3.1).
export const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
