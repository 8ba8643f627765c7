// Memory sizes as people write them for containers: 512m and 2g (Docker), 512Mi and 2Gi
// (Kubernetes), 512MiB, 1.5GiB, 500MB, 1T, or a number of bytes.
import { parseBytes } from '../options/spec.js';

export const SIZE_ACCEPTED = 'a size such as 512m, 512Mi, 512MiB, 2g, 1.5GiB, 1T (binary units), 500MB, 1TB (decimal) or a number of bytes';

export function parseSize(raw: string): number | undefined {
  const k8s = /^(\d+(?:\.\d+)?)\s*([KMGT])i$/i.exec(raw.trim());
  const s = k8s ? `${k8s[1]}${k8s[2]}iB` : raw.trim();
  // Terabytes, which the shared byte parser stops short of: T and TiB binary, TB decimal like MB.
  const t = /^(\d+(?:\.\d+)?)\s*(t|tib|tb)$/i.exec(s);
  if (t) return Math.floor(Number(t[1]) * (t[2]!.toLowerCase() === 'tb' ? 1000 ** 4 : 1024 ** 4));
  const n = parseBytes(s);
  return n === undefined || n <= 0 ? undefined : n;
}

/** The largest memory limit taken: beyond any machine's memory (the largest have tens of TiB), a slip of the unit. */
export const MAX_MEMORY = 2 ** 50;

/**
 * A size that parses but cannot be meant as a memory limit, and the message to say so: a bare number
 * under 1 MiB (bytes, surely meant as MiB or GiB), or one above MAX_MEMORY; else undefined.
 */
export function sizeProblem(raw: string, bytes: number): string | undefined {
  const n = raw.trim();
  if (bytes > MAX_MEMORY)
    return `${Math.round(bytes / 2 ** 40)} TiB is more memory than any machine has: at most ${MAX_MEMORY / 2 ** 40} TiB (1024t) is accepted`;
  if (!/^\d+(\.\d+)?$/.test(n) || bytes >= 2 ** 20) return undefined;
  return `a bare number is bytes, and ${n} bytes is no memory limit: did you mean ${n}m or ${n}g?`;
}
