// A file this process is still writing (a heap snapshot arriving from the target), read while it
// grows: a reader at its end waits for the next write instead of taking the end for the file's.
// The file itself is the buffer between the writer and the reader, so a reader that falls behind
// costs disk, never memory.
import type { FileHandle } from 'node:fs/promises';

export interface GrowingFile {
  /** Counts writes; a reader notes it before a read and passes it to wait(). */
  readonly generation: number;
  readonly done: boolean;
  /** Resolves once something was written after `generation`, or the file is finished. */
  wait(generation: number): Promise<void>;
}

export interface GrowingFileWriter extends GrowingFile {
  wrote(): void;
  /** No more writes (also after a failed write: the reader then reports a truncated file). */
  finish(): void;
}

export function growingFile(): GrowingFileWriter {
  let generation = 0;
  let done = false;
  let waiters: (() => void)[] = [];
  const wake = (): void => {
    generation++;
    const w = waiters;
    waiters = [];
    for (const resolve of w) resolve();
  };
  return {
    get generation() {
      return generation;
    },
    get done() {
      return done;
    },
    wait(seen) {
      if (done || seen !== generation) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
    wrote: wake,
    finish() {
      done = true;
      wake();
    },
  };
}

/**
 * Reads `length` bytes at `position` (null: the current position) of a file that may still be
 * growing: waits at its end until more is written or it is finished. 0 only at the real end.
 */
export async function readGrowing(
  fh: FileHandle,
  buffer: Buffer,
  length: number,
  position: number | null,
  growing: GrowingFile | undefined,
): Promise<number> {
  for (;;) {
    // Noted before the read: a write between the read and the wait wakes the wait at once.
    const generation = growing?.generation ?? 0;
    const finished = growing?.done ?? true;
    const { bytesRead } = await fh.read(buffer, 0, length, position);
    if (bytesRead > 0 || finished) return bytesRead;
    await growing!.wait(generation);
  }
}
