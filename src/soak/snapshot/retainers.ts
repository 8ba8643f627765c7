// One retainer path per node: a breadth-first search from the snapshot's root over the typed edge
// arrays, skipping weak edges (they do not keep anything alive), so the path found is a shortest
// chain of strong references. Memory: three Int32/Uint32Arrays of one slot per node.
import { edgeLabel, nodeLabel, type GraphView } from './graph.js';

export interface RetainerTree {
  /** The edge (index into `edges`) by which BFS first reached each node; -1 for the root and unreachable nodes. */
  parentEdge: Int32Array;
  parentNode: Int32Array;
  /** The reachable nodes in the order BFS reached them (a parent before its children). */
  order: Uint32Array;
}

export function shortestRetainers(v: GraphView): RetainerTree {
  const n = v.g.nodeCount;
  const parentEdge = new Int32Array(n).fill(-1);
  const parentNode = new Int32Array(n).fill(-1);
  const queue = new Uint32Array(n);
  const seen = new Uint8Array(n);
  let head = 0;
  let tail = 0;
  queue[tail++] = 0; // node 0 is the synthetic root
  seen[0] = 1;
  const { edges } = v.g;
  // Two passes, as DevTools does: first from the root's other children (global objects, the
  // embedder's roots), then from "(GC roots)" — so a path goes through the program's own objects
  // rather than through a handle scope or a compilation cache that happens to be shorter.
  let gcRoots = -1;
  for (let e = v.firstEdge[0]!; e < v.firstEdge[1]!; e += v.ef) {
    const to = edges[e + v.edgeTo]!;
    if (v.g.strings.get(v.g.nodes[to * v.nf + v.name]!) === '(GC roots)') gcRoots = to;
  }
  if (gcRoots >= 0) seen[gcRoots] = 1;
  walk();
  if (gcRoots >= 0) {
    parentEdge[gcRoots] = -1;
    parentNode[gcRoots] = 0;
    queue[tail++] = gcRoots;
    walk();
  }
  return { parentEdge, parentNode, order: queue.subarray(0, tail) };

  function walk(): void {
    while (head < tail) {
      const node = queue[head++]!;
      for (let e = v.firstEdge[node]!, end = v.firstEdge[node + 1]!; e < end; e += v.ef) {
        if (edges[e + v.edgeType] === v.weak) continue;
        const to = edges[e + v.edgeTo]!;
        if (seen[to]) continue;
        seen[to] = 1;
        parentEdge[to] = e;
        parentNode[to] = node;
        queue[tail++] = to;
      }
    }
  }
}

const MAX_STEPS = 24;

/**
 * The path from the root to `node`, written like
 * `(GC roots) → (Global handles) → … → leaky (Array) → [123] (Object)`; undefined if unreachable.
 * A longer path keeps its two ends: `… (N steps) →` stands for the middle.
 */
export function retainerPath(v: GraphView, tree: RetainerTree, node: number): string | undefined {
  if (node !== 0 && tree.parentNode[node] === -1) return undefined;
  // The whole chain first: a leaked linked list (timers, listeners) puts its newest member hundreds
  // of thousands of steps from the root, and the root end is the part that names the leak.
  const chain: number[] = [];
  for (let at = node; at !== 0; at = tree.parentNode[at]!) {
    chain.push(at);
    if (chain.length > v.g.nodeCount) return undefined; // a cycle: not a BFS tree (a corrupt one)
  }
  chain.reverse();
  const step = (at: number): string => {
    const parent = tree.parentNode[at]!;
    const label = nodeLabel(v, at);
    return parent === 0 ? label : `${edgeLabel(v, tree.parentEdge[at]!)} ${label.startsWith('(') ? label : `(${label})`}`;
  };
  if (chain.length <= MAX_STEPS) return chain.map(step).join(' → ');
  const half = MAX_STEPS / 2;
  const cut = `… (${chain.length - MAX_STEPS} steps)`;
  return [...chain.slice(0, half).map(step), cut, ...chain.slice(-half).map(step)].join(' → ');
}
