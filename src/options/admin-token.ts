// The admin API's bearer token, one home for the gateway's HEADROOM_ADMIN_TOKEN and the adapters'
// adminToken: 16–512 characters an Authorization header can carry (a token with a space in it
// could never match: the Bearer parse takes one run of visible ASCII).
import { optionalStr, VISIBLE_ASCII, type OptionSpec } from './spec.js';

export const ADMIN_TOKEN_CHARS = VISIBLE_ASCII;
export const ADMIN_TOKEN_ACCEPTED =
  "must be 16 to 512 visible ASCII characters without spaces (such as RFC 6750's token68: letters, digits, - . _ ~ + / =)";

export function adminTokenSpec(c: { doc: string; env?: string }): OptionSpec<string | undefined> {
  return optionalStr({
    ...c,
    default: undefined,
    minLength: 16,
    maxLength: 512,
    pattern: ADMIN_TOKEN_CHARS,
    secret: true,
    accepted: ADMIN_TOKEN_ACCEPTED,
  });
}
