// The admin API's bearer token, one home for the gateway's HEADROOM_ADMIN_TOKEN and the adapters'
// adminToken: 16–512 characters an Authorization header can carry (a token with a space in it
// could never match: the Bearer parse takes one run of visible ASCII).
import { optionalStr, Refused, type OptionSpec } from './spec.js';

export const ADMIN_TOKEN_CHARS = /^[\x21-\x7e]+$/;
export const ADMIN_TOKEN_ACCEPTED =
  "must be 16 to 512 visible ASCII characters without spaces (such as RFC 6750's token68: letters, digits, - . _ ~ + / =)";

export function adminTokenSpec(c: { doc: string; env?: string }): OptionSpec<string | undefined> {
  const base = optionalStr({
    ...c,
    default: undefined,
    minLength: 16,
    maxLength: 512,
    secret: true,
    accepted: ADMIN_TOKEN_ACCEPTED,
  });
  const unusable = new Refused(ADMIN_TOKEN_ACCEPTED);
  return {
    ...base,
    parse: (raw) => {
      const token = base.parse(raw);
      return typeof token === 'string' && !ADMIN_TOKEN_CHARS.test(token) ? unusable : token;
    },
  };
}
