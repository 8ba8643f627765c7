// Reading a parsed heap graph: field offsets resolved once, and the name a node is grouped under
// (its "constructor", as DevTools' summary groups them).
import type { HeapGraph } from './parse.js';

export interface GraphView {
  g: HeapGraph;
  /** Numbers per node and per edge. */
  nf: number;
  ef: number;
  type: number;
  name: number;
  id: number;
  selfSize: number;
  edgeCount: number;
  edgeType: number;
  edgeName: number;
  edgeTo: number;
  /** Index of the enum values that matter. */
  weak: number;
  element: number;
  hidden: number;
  /** First edge (index into `edges`) of each node, and one past the last node's (empty without edges). */
  firstEdge: Uint32Array;
  /** className() by (type, name) pair: one string per pair, not one per node. */
  classCache: Map<number, string>;
}

export function view(g: HeapGraph): GraphView {
  const nf = g.nodeFields.length;
  const ef = g.edgeFields.length;
  const v: Omit<GraphView, 'firstEdge' | 'classCache'> = {
    g,
    nf,
    ef,
    type: g.nodeFields.indexOf('type'),
    name: g.nodeFields.indexOf('name'),
    id: g.nodeFields.indexOf('id'),
    selfSize: g.nodeFields.indexOf('self_size'),
    edgeCount: g.nodeFields.indexOf('edge_count'),
    edgeType: g.edgeFields.indexOf('type'),
    edgeName: g.edgeFields.indexOf('name_or_index'),
    edgeTo: g.edgeFields.indexOf('to_node'),
    weak: g.edgeTypes.indexOf('weak'),
    element: g.edgeTypes.indexOf('element'),
    hidden: g.edgeTypes.indexOf('hidden'),
  };
  const firstEdge = new Uint32Array(g.edges.length > 0 ? g.nodeCount + 1 : 0);
  if (g.edges.length > 0) {
    let e = 0;
    for (let i = 0; i < g.nodeCount; i++) {
      firstEdge[i] = e;
      e += g.nodes[i * nf + v.edgeCount]! * ef;
    }
    firstEdge[g.nodeCount] = e;
  }
  return { ...v, firstEdge, classCache: new Map() };
}

const NAMED = new Set(['object', 'native', 'regexp', 'closure']);

const GROUP: Record<string, string> = {
  string: '(string)',
  'concatenated string': '(string)',
  'sliced string': '(string)',
  array: '(array)',
  code: '(compiled code)',
  hidden: '(system)',
  number: '(number)',
  heapnumber: '(number)',
  symbol: 'Symbol',
  bigint: 'BigInt',
  'object shape': '(object shape)',
  synthetic: '(synthetic)',
};

/** The group a node counts under: its constructor for objects, `name()` for closures, else a (kind). */
export function className(v: GraphView, node: number): string {
  const base = node * v.nf;
  const typeIndex = v.g.nodes[base + v.type]!;
  // Only objects, closures and regexps are grouped by name; the rest by type alone (keying a
  // string node by its name would cache one entry per distinct string value).
  const named = NAMED.has(v.g.nodeTypes[typeIndex]!);
  const nameIndex = named ? v.g.nodes[base + v.name]! : 0;
  const key = nameIndex * 32 + typeIndex + (named ? 0 : 16);
  let cls = v.classCache.get(key);
  if (cls === undefined) v.classCache.set(key, (cls = classOf(v.g.nodeTypes[typeIndex] ?? 'unknown', v.g.strings.get(nameIndex) ?? '')));
  return cls;
}

function classOf(type: string, name: string): string {
  if (type === 'object' || type === 'native' || type === 'regexp') return name || '(anonymous object)';
  if (type === 'closure') return name ? `${name}()` : '(anonymous function)';
  return GROUP[type] ?? `(${type})`;
}

/** A short label of a node for a path: its name for objects, with the group when they differ. */
export function nodeLabel(v: GraphView, node: number): string {
  const type = v.g.nodeTypes[v.g.nodes[node * v.nf + v.type]!];
  // Synthetic and root-ish nodes are named like "(GC roots)" or "global / ": the name is the label.
  if (type === 'synthetic') return v.g.strings.get(v.g.nodes[node * v.nf + v.name]!) || '(root)';
  return className(v, node).replace(/\s*\/\s*$/, '');
}

/** How an edge is written in a path: `.name`, `[index]`, or `(kind)`. */
export function edgeLabel(v: GraphView, edge: number): string {
  const type = v.g.edgeTypes[v.g.edges[edge + v.edgeType]!];
  const raw = v.g.edges[edge + v.edgeName]!;
  if (type === 'element') return `[${raw}]`;
  if (type === 'hidden') return `(hidden ${raw})`;
  // '' when the parser dropped an index-like name (see parse.ts).
  return v.g.strings.get(raw) || `(${type})`;
}
