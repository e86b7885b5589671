// Address ranges no public DNS list can know, shared by the client blocklists (rbl) and the link blocklists (urlbl).
import { CidrList } from './cidr.ts';

/** RFC 1918, IPv4 link-local, IPv6 unique-local and link-local. */
export const PRIVATE_RANGES = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', 'fc00::/7', 'fe80::/10'] as const;

/** The private ranges plus "this network", loopback and the unspecified and loopback IPv6 addresses. */
export const UNROUTABLE_RANGES = [...PRIVATE_RANGES, '0.0.0.0/8', '127.0.0.0/8', '::/127'] as const;

const PRIVATE = new CidrList(PRIVATE_RANGES);
const UNROUTABLE = new CidrList(UNROUTABLE_RANGES);

/** A private address (an IPv4-mapped one too): asking a public list about it only tells the list about the network. */
export function isPrivate(ip: string): boolean { return PRIVATE.has(ip); }

/** An address no link in a message can usefully point to for a public list (127.0.0.2 is every list's test entry). */
export function isUnroutable(ip: string): boolean { return UNROUTABLE.has(ip); }
