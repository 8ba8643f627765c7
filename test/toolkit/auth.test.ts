// An admin token no Authorization header can carry (a space in it, a character outside visible
// ASCII) is refused when the options are checked, not found out at the first 401.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createAdminAuth } from '../../src/toolkit/auth.js';
import { createHeadroom } from '../../src/toolkit/headroom.js';
import { refuses } from '../helpers/options.js';

const ACCEPTED = "must be 16 to 512 visible ASCII characters without spaces (such as RFC 6750's token68: letters, digits, - . _ ~ + / =)";

describe('adminToken', () => {
  it('refuses a token with whitespace or non-ASCII characters, saying what is accepted; takes token68', async () => {
    for (const token of ['correct horse battery staple', 'tab\tinside-the-token-01', 'naïve-token-0123456789']) {
      refuses(
        () => createHeadroom({ adminToken: token, monitor: { autoStart: false } }),
        `createHeadroom: adminToken=<hidden>: ${ACCEPTED}`,
      );
    }
    assert.throws(() => createAdminAuth('has a space in it 0123'), {
      code: 'HEADROOM_CONFIG_INVALID',
      message: `bearer token: ${ACCEPTED}`,
    });
    // What is accepted works end to end: the Bearer header carrying it matches.
    const token = 'aB3-._~+/0123456789xyz==';
    const hr = createHeadroom({ adminToken: token, monitor: { autoStart: false } });
    await hr.close();
    const check = createAdminAuth(token);
    assert.doesNotThrow(() => check(`Bearer ${token}`));
    assert.throws(() => check('Bearer wrong-token-0123456789'), { code: 'HEADROOM_UNAUTHORIZED' });
  });
});
