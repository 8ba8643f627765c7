// Which constructor the new memory belongs to. Counting each object under its own constructor
// names `(string)` whenever a leaked object holds a few fresh strings (they outweigh it in bytes,
// and grow in every interval just as it does). So each object allocated in the last interval is
// also charged to its holder: the outermost object (not a string, array or other V8 internal)
// among its new ancestors on the shortest retainer path. A string held by a leaked `Report` counts
// for `Report`; a string pushed straight into an old array or Map has no such holder and still
// counts for `(string)`.
import { className, type GraphView } from './graph.js';
import type { RetainerTree } from './retainers.js';

// Node types whose objects a program makes: a new one of these can hold new memory.
const HOLDERS = new Set(['object', 'closure', 'regexp']);

/**
 * Bytes (shallow sizes) of the reachable objects with an id above `after` (allocated since the
 * snapshot whose highest id that was), by the constructor of their holder. One pass in BFS order,
 * one Int32Array slot per node.
 */
export function heldByClass(v: GraphView, tree: RetainerTree, after: number): Map<string, number> {
  const { nodes } = v.g;
  const holderType = new Uint8Array(v.g.nodeTypes.length);
  v.g.nodeTypes.forEach((t, k) => (holderType[k] = HOLDERS.has(t) ? 1 : 0));
  const native = v.g.nodeTypes.indexOf('native');
  // holder[i]: the outermost new holder above (or at) node i along its run of new ancestors; -1: none.
  const holder = new Int32Array(v.g.nodeCount).fill(-1);
  const held = new Map<string, number>();
  // An indexed loop: a for-of over a typed array allocated an iterator result per node until optimized.
  for (let k = 0; k < tree.order.length; k++) {
    const i = tree.order[k]!;
    const base = i * v.nf;
    const type = nodes[base + v.type]!;
    if (nodes[base + v.id]! <= after || type === native) continue;
    const parent = tree.parentNode[i]!;
    const above = parent >= 0 ? holder[parent]! : -1;
    holder[i] = above !== -1 ? above : holderType[type] ? i : -1;
    const name = className(v, holder[i] !== -1 ? holder[i]! : i);
    held.set(name, (held.get(name) ?? 0) + nodes[base + v.selfSize]!);
  }
  return held;
}
