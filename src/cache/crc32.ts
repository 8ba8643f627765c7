// CRC-32 of payloads (disk files, Redis values): zlib's (Node >= 20.15), native and incremental.
import { crc32 as zlibCrc32 } from 'node:zlib';

export const crc32: (data: Uint8Array, value?: number) => number = zlibCrc32;
