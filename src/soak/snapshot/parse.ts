// A streaming parser of V8 .heapsnapshot files into typed arrays.
//
// Why our own: the issue bounds the analysis's peak RSS at 2× the snapshot size. The libraries
// that read this format do not meet it: `heapsnapshot-parser` JSON.parses the whole file, then
// builds a JS object per node and per edge (its "stream input" issue #1 has been open since 2015);
// memlab (not a dependency) stalls or runs out of memory on big snapshots (facebook/memlab#77,
// #122) and needs hand-written filters for Node. Chrome DevTools' own loader keeps typed arrays but
// is not published as a package. Here the file is read into one reused 1 MiB buffer (a read stream
// allocates a fresh buffer per chunk, and that garbage alone added ~the file's size to the peak RSS
// in measurements), the `nodes` and
// `edges` arrays go straight into Uint32Arrays sized from the header's counts, and only the
// `strings` table becomes JS strings: no whole-file string, no object per node.
import { open } from 'node:fs/promises';
import { readGrowing, type GrowingFile } from './growing.js';

export interface HeapGraph {
  /** The node fields kept (NODE_FIELDS), in that order: the others are dropped while reading. */
  nodeFields: string[];
  edgeFields: string[];
  /** Names of the node and edge `type` enum values. */
  nodeTypes: string[];
  edgeTypes: string[];
  nodeCount: number;
  edgeCount: number;
  /** nodeCount × nodeFields.length numbers. */
  nodes: Uint32Array;
  /**
   * edgeCount × edgeFields.length numbers; unlike the file, `to_node` is the node's ordinal (not
   * its offset in `nodes`). Empty when parsed with `edges: false`.
   */
  edges: Uint32Array;
  /**
   * The strings kept, by their index in the file's table (a Map, not an array: a leaking service's
   * table has 100 000s of string values, and a slot each was most of the strings' memory).
   */
  strings: Map<number, string>;
  /** Entries in the file's table, kept or not. */
  stringCount: number;
}

interface Meta {
  node_fields: string[];
  node_types: [string[], ...unknown[]];
  edge_fields: string[];
  edge_types: [string[], ...unknown[]];
}

/** The node fields an analysis needs; trace_node_id, detachedness and the like are not kept. */
export const NODE_FIELDS = ['type', 'name', 'id', 'self_size', 'edge_count'] as const;

const MAX_HEADER = 1 << 20;
const CHUNK = 1 << 20;

function isDigits(b: Buffer, from = 0, to = b.length): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) if (b[i]! < 0x30 || b[i]! > 0x39) return false;
  return true;
}

export class HeapSnapshotFormatError extends Error {
  override name = 'HeapSnapshotFormatError';
}

const enum State {
  Header,
  Key,
  Numbers,
  Strings,
  Skip,
  Done,
}

export interface ParseOptions {
  /** Keep the edges (default true); without them the graph serves counts only, in a third of the memory. */
  edges?: boolean;
  /**
   * Keep every string (default false): only the names an analysis reads are kept — of nodes that
   * are not strings themselves, and of named edges. The values of string nodes, the bulk of the
   * table in a leaking service, are left out of `strings`.
   */
  allStrings?: boolean;
  /**
   * Arrays to fill instead of allocating (views of them are used when they are large enough): an
   * analysis of several snapshots reuses one pair, so the earlier snapshots' arrays are not still
   * waiting for a GC when the next are allocated.
   */
  reuse?: { nodes?: Uint32Array; edges?: Uint32Array };
  /** Called after each chunk (the analysis samples its RSS there). */
  onChunk?: () => void;
  /** The file is still being written: read it as it grows, to its finish (see growing.ts). */
  growing?: GrowingFile;
}

/** The node and edge counts from a snapshot's header (its first KiB), to size arrays before parsing. */
export async function readCounts(
  file: string,
  growing?: GrowingFile,
): Promise<{ nodes: number; edges: number; nodeFields: number; edgeFields: number }> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    let bytesRead = 0;
    let text = '';
    // A growing file: until its header is whole (it ends where "nodes" begins).
    for (let more = 1; more > 0 && !text.includes('"nodes"') && bytesRead < buf.length;) {
      more = await readGrowing(fh, buf.subarray(bytesRead), buf.length - bytesRead, bytesRead, growing);
      bytesRead += more;
      text = buf.toString('utf8', 0, bytesRead);
    }
    const at = text.indexOf('"nodes"');
    if (at === -1) throw new HeapSnapshotFormatError(`${file}: not a V8 heap snapshot (no "nodes" in its header)`);
    const s = (
      JSON.parse(`${text.slice(0, at).replace(/,\s*$/, '')}}`) as { snapshot: { node_count: number; edge_count: number; meta: Meta } }
    ).snapshot;
    return { nodes: s.node_count, edges: s.edge_count, nodeFields: s.meta.node_fields.length, edgeFields: s.meta.edge_fields.length };
  } finally {
    await fh.close();
  }
}

/** Reads a .heapsnapshot file. */
export async function parseHeapSnapshot(file: string, options: ParseOptions = {}): Promise<HeapGraph> {
  const keepEdges = options.edges !== false;
  let state = State.Header as State;
  let header = '';
  let meta: Meta | undefined;
  let nodeCount = 0;
  let edgeCount = 0;
  let nodes: Uint32Array = new Uint32Array(0);
  let edges: Uint32Array = new Uint32Array(0);
  const strings = new Map<number, string>();
  let stringCount = 0;
  let seen = { nodes: false, edges: false, strings: false };

  // Numbers state
  let target = nodes;
  let targetName = '';
  let numbers = 0; // read so far
  let expected = 0;
  // Per column of a row in the file: its column in `target`, or -1 to drop it.
  let columns: Int8Array = new Int8Array(0);
  let col = 0;
  let rowOut = 0;
  let out = 0; // where the current row starts in `target`
  let divideCol = -1; // edges' to_node: an offset into the file's nodes, stored as an ordinal
  let divisor = 1;
  let acc = 0;
  let inNumber = false;
  // Key state: the text since the last array closed, to find the next `"key":[`.
  let key = '';
  // Skip state
  let depth = 0;
  let skipInString = false;
  let skipEscape = false;
  let skipFlat = false;
  // Strings state
  let inString = false;
  let escaped = false;
  let hasEscape = false;
  let parts: Buffer[] = [];
  let wanted: Uint8Array | undefined; // by string index: bit 1 = an edge's name, bit 2 = a node's (undefined: keep all)
  let keepThis = true;

  const fail = (what: string): never => {
    throw new HeapSnapshotFormatError(`${file}: not a V8 heap snapshot (${what})`);
  };

  const beginArray = (name: string): void => {
    if (name === 'nodes' || (name === 'edges' && keepEdges)) {
      if (!meta) fail(`"${name}" before the snapshot header`);
      const isNodes = name === 'nodes';
      const fields = isNodes ? meta!.node_fields : meta!.edge_fields;
      target = isNodes ? nodes : edges;
      targetName = name;
      expected = (isNodes ? nodeCount : edgeCount) * fields.length;
      columns = Int8Array.from(fields, (f) => (isNodes ? (NODE_FIELDS as readonly string[]).indexOf(f) : fields.indexOf(f)));
      rowOut = isNodes ? NODE_FIELDS.length : fields.length;
      divideCol = isNodes ? -1 : fields.indexOf('to_node');
      divisor = meta!.node_fields.length;
      numbers = 0;
      col = 0;
      out = 0;
      acc = 0;
      inNumber = false;
      state = State.Numbers;
    } else if (name === 'strings') {
      if (!options.allStrings) wanted = wantedStrings();
      state = State.Strings;
      inString = false;
    } else {
      depth = 1;
      // Flat arrays of numbers (by the format): their end is the next ']', found by memchr rather
      // than byte by byte — the edges of an earlier snapshot are most of its file.
      skipFlat = name === 'edges' || name === 'locations';
      state = State.Skip;
    }
    seen = { ...seen, [name]: true };
  };

  const startFromHeader = (text: string): void => {
    const at = text.indexOf('"nodes"');
    let parsed: { snapshot?: { meta?: Meta; node_count?: number; edge_count?: number } };
    try {
      parsed = JSON.parse(`${text.slice(0, at).replace(/,\s*$/, '')}}`) as typeof parsed;
    } catch {
      return fail('its header is not JSON');
    }
    const s = parsed.snapshot;
    if (!s?.meta || !Array.isArray(s.meta.node_fields) || typeof s.node_count !== 'number' || typeof s.edge_count !== 'number')
      fail('no snapshot.meta, node_count or edge_count');
    meta = s!.meta!;
    nodeCount = s!.node_count!;
    edgeCount = s!.edge_count!;
    for (const f of NODE_FIELDS) if (!meta.node_fields.includes(f)) fail(`no node field "${f}"`);
    for (const f of ['type', 'name_or_index', 'to_node']) if (!meta.edge_fields.includes(f)) fail(`no edge field "${f}"`);
    if (meta.node_fields.length > 127 || meta.edge_fields.length > 127) fail('too many fields');
    const take = (have: Uint32Array | undefined, length: number): Uint32Array =>
      have && have.length >= length ? have.subarray(0, length) : new Uint32Array(length);
    nodes = take(options.reuse?.nodes, nodeCount * NODE_FIELDS.length);
    if (keepEdges) edges = take(options.reuse?.edges, edgeCount * meta.edge_fields.length);
  };

  const endNumbers = (): void => {
    if (numbers !== expected) fail(`"${targetName}" has ${numbers} numbers, the header announced ${expected}`);
    state = State.Key;
    key = '';
  };

  // Names read by the analysis: of every node that is not a string or a number, and of every edge
  // whose name_or_index is a name (not an element or hidden index).
  const wantedStrings = (): Uint8Array => {
    const nf = NODE_FIELDS.length;
    const valueTypes = new Set(
      ['string', 'concatenated string', 'sliced string', 'number', 'heapnumber'].map((t) => meta!.node_types[0].indexOf(t)),
    );
    let max = 0;
    for (let i = 1; i < nodes.length; i += nf) if (nodes[i]! > max) max = nodes[i]!;
    const ef = meta!.edge_fields.length;
    const et = meta!.edge_fields.indexOf('type');
    const en = meta!.edge_fields.indexOf('name_or_index');
    const indexed = new Set(['element', 'hidden'].map((t) => meta!.edge_types[0].indexOf(t)));
    for (let e = 0; e < edges.length; e += ef) if (!indexed.has(edges[e + et]!) && edges[e + en]! > max) max = edges[e + en]!;
    const w = new Uint8Array(max + 1);
    for (let i = 0; i < nodes.length; i += nf) if (!valueTypes.has(nodes[i]!)) w[nodes[i + 1]!] = 2;
    for (let e = 0; e < edges.length; e += ef) if (!indexed.has(edges[e + et]!)) w[edges[e + en]!]! |= 1;
    return w;
  };

  const endString = (bytes: Buffer): void => {
    // Internal edges of V8's tables are named by their index ("189151"): one string each, hundreds
    // of thousands in a big heap. Only a node's name is kept when it is all digits.
    if (wanted !== undefined && wanted[stringCount] === 1 && isDigits(bytes)) return;
    let s = bytes.toString('utf8');
    if (hasEscape) s = JSON.parse(`"${s}"`) as string;
    strings.set(stringCount, s);
  };

  const fh = await open(file, 'r');
  const buffer = Buffer.allocUnsafe(CHUNK);
  try {
    for (;;) {
      const bytesRead = await readGrowing(fh, buffer, CHUNK, null, options.growing);
      if (bytesRead === 0) break;
      parseChunk(buffer.subarray(0, bytesRead));
      options.onChunk?.();
    }
  } finally {
    await fh.close();
  }

  // The hot loop: digits into the typed array; commas and whitespace separate. The state lives in
  // locals while a chunk is read (written back at its end) rather than in the closure's context.
  function readNumbers(chunk: Buffer, from: number): number {
    const n = chunk.length;
    const t = target;
    const cols = columns;
    const width = cols.length;
    const limit = expected;
    let a = acc;
    let have = inNumber;
    let c0 = col;
    let o = out;
    let k = numbers;
    let i = from;
    const save = (): void => {
      acc = a;
      inNumber = have;
      col = c0;
      out = o;
      numbers = k;
    };
    for (; i < n; i++) {
      const c = chunk[i]!;
      if (c >= 0x30 && c <= 0x39) {
        a = a * 10 + (c - 0x30);
        have = true;
      } else if (c === 0x2c || c === 0x0a || c === 0x20 || c === 0x0d || c === 0x09 || c === 0x5d) {
        if (have) {
          if (k++ >= limit) fail(`"${targetName}" has more numbers than the header announced`);
          if (a > 0xffffffff) fail(`a number in "${targetName}" does not fit 32 bits`);
          const to = cols[c0]!;
          if (to >= 0) t[o + to] = c0 === divideCol ? a / divisor : a;
          if (++c0 === width) {
            c0 = 0;
            o += rowOut;
          }
          a = 0;
          have = false;
        }
        if (c === 0x5d) {
          save();
          endNumbers();
          return i + 1;
        }
      } else fail(`unexpected byte 0x${c.toString(16)} in "${targetName}"`);
    }
    save();
    return i;
  }

  function parseChunk(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (state) {
        case State.Header: {
          const end = chunk.indexOf('"nodes"', i);
          const upto = end === -1 ? n : chunk.indexOf(0x5b /* [ */, end);
          header += chunk.toString('utf8', i, upto === -1 ? n : upto);
          if (header.length > MAX_HEADER) fail('no "nodes" array in its first MiB');
          if (end === -1 || upto === -1) {
            i = n;
            break;
          }
          startFromHeader(header);
          header = '';
          beginArray('nodes');
          i = upto + 1;
          break;
        }
        case State.Numbers:
          i = readNumbers(chunk, i);
          break;
        case State.Key: {
          const open = chunk.indexOf(0x5b, i);
          const close = chunk.indexOf(0x7d /* } */, i);
          if (close !== -1 && (open === -1 || close < open)) {
            state = State.Done;
            i = n;
            break;
          }
          key += chunk.toString('utf8', i, open === -1 ? n : open);
          if (key.length > 4096) fail('no array after a key');
          if (open === -1) {
            i = n;
            break;
          }
          const m = /"([A-Za-z_]+)"\s*:\s*$/.exec(key);
          if (!m) fail(`unexpected text "${key.slice(-40)}"`);
          i = open + 1;
          beginArray(m![1]!);
          break;
        }
        case State.Skip: {
          if (skipFlat) {
            const end = chunk.indexOf(0x5d /* ] */, i);
            if (end === -1) i = n;
            else {
              i = end + 1;
              depth = 0;
            }
          }
          for (; i < n && depth > 0; i++) {
            const c = chunk[i]!;
            if (skipInString) {
              if (skipEscape) skipEscape = false;
              else if (c === 0x5c) skipEscape = true;
              else if (c === 0x22) skipInString = false;
            } else if (c === 0x22) skipInString = true;
            else if (c === 0x5b) depth++;
            else if (c === 0x5d) depth--;
          }
          if (depth === 0) {
            state = State.Key;
            key = '';
          }
          break;
        }
        case State.Strings: {
          if (!inString) {
            // Between strings: find the next opening quote, or the closing bracket.
            for (; i < n; i++) {
              const c = chunk[i]!;
              if (c === 0x22) {
                inString = true;
                escaped = false;
                hasEscape = false;
                keepThis = wanted === undefined || wanted[stringCount]! > 0;
                i++;
                break;
              }
              if (c === 0x5d) {
                state = State.Key;
                key = '';
                i++;
                break;
              }
            }
            break;
          }
          let j = i;
          for (; j < n; j++) {
            const c = chunk[j]!;
            if (escaped) escaped = false;
            else if (c === 0x5c) escaped = hasEscape = true;
            else if (c === 0x22) break;
          }
          if (j === n) {
            if (keepThis) parts.push(Buffer.from(chunk.subarray(i, n))); // a copy: the buffer is reused
            i = n;
          } else {
            // A skipped value, or an index-like edge name (see endString) makes no Buffer view: there
            // are 100 000s of them, and a view each was most of the parse's garbage.
            if (keepThis && !(parts.length === 0 && wanted?.[stringCount] === 1 && isDigits(chunk, i, j)))
              endString(parts.length === 0 ? chunk.subarray(i, j) : Buffer.concat([...parts, chunk.subarray(i, j)]));
            stringCount++;
            // Emptied only when used: an array per string was most of the parse's garbage.
            if (parts.length > 0) parts = [];
            inString = false;
            i = j + 1;
          }
          break;
        }
        case State.Done:
          i = n;
          break;
      }
    }
  }
  if (!meta) fail('no header');
  if (!seen.nodes || !seen.edges || !seen.strings) fail('"nodes", "edges" or "strings" is missing (truncated file?)');
  if (state !== State.Done && state !== State.Key) fail('it ends in the middle of an array (truncated file?)');
  return {
    nodeFields: [...NODE_FIELDS],
    edgeFields: meta!.edge_fields,
    nodeTypes: meta!.node_types[0],
    edgeTypes: meta!.edge_types[0],
    nodeCount,
    edgeCount,
    nodes,
    edges,
    strings,
    stringCount,
  };
}
