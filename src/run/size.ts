// Memory sizes as people write them for containers: 512m and 2g (Docker), 512Mi and 2Gi
// (Kubernetes), 512MiB, 1.5GiB, or a number of bytes.
import { parseBytes } from '../options/spec.js';

export const SIZE_ACCEPTED = 'a size such as 512m, 512Mi, 512MiB, 2g, 1.5GiB (binary units), 500MB (decimal) or a number of bytes';

export function parseSize(raw: string): number | undefined {
  const k8s = /^(\d+(?:\.\d+)?)\s*([KMGT])i$/i.exec(raw.trim());
  const s = k8s ? `${k8s[1]}${k8s[2]}iB` : raw.trim();
  const t = /^(\d+(?:\.\d+)?)\s*(t|tib)$/i.exec(s);
  if (t) return Math.floor(Number(t[1]) * 1024 ** 4);
  const n = parseBytes(s);
  return n === undefined || n <= 0 ? undefined : n;
}

/** A bare number under 1 MiB is bytes, and surely meant as MiB or GiB: the message to say so, else undefined. */
export function bareBytesProblem(raw: string, bytes: number): string | undefined {
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || bytes >= 2 ** 20) return undefined;
  const n = raw.trim();
  return `a bare number is bytes, and ${n} bytes is no memory limit: did you mean ${n}m or ${n}g?`;
}
