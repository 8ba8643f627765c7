// streamCopyFile with destination names up to NAME_MAX (255 bytes): the temporary file beside dest
// must fit too (`.NAME.<12 hex>.part` adds 19 characters, so it is cut, never the destination).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { streamCopyFile } from '../../src/streams/index.js';
import { assertNoLeakedHandles } from '../helpers/resources.js';

test('streamCopyFile copies to destination names of 250 and 255 bytes (ASCII and multi-byte) and leaves no temporary file', async () => {
  await assertNoLeakedHandles(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'headroom-copy-names-'));
    try {
      const src = join(dir, 'src.bin');
      const bytes = randomBytes(256 * 1024 + 3);
      await writeFile(src, bytes);
      const names = ['a'.repeat(250), 'b'.repeat(255), 'é'.repeat(127), `${'ü'.repeat(123)}.json.gz`, '日本'.repeat(42) + 'x'];
      for (const name of names) assert.ok(Buffer.byteLength(name) >= 250 && Buffer.byteLength(name) <= 255, name);
      for (const name of names) {
        await streamCopyFile(src, join(dir, name));
        assert.ok((await readFile(join(dir, name))).equals(bytes), `a complete copy at a ${Buffer.byteLength(name)}-byte name`);
        // a second copy replaces the first (the temporary name is unique, not left behind)
        await streamCopyFile(src, join(dir, name));
      }
      // an aborted copy to a long name leaves dest as it was and no temporary file
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(streamCopyFile(src, join(dir, names[0]!), { signal: controller.signal }), { name: 'AbortError' });
      assert.deepEqual((await readdir(dir)).sort(), [...names, 'src.bin'].sort(), 'only the source and the copies');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
