// Counts and bytes per constructor in each snapshot, and the constructors that grew in every
// interval between consecutive snapshots (a leak grows steadily; a cache warming up or a one-off
// allocation does not grow every time).
import { className, type GraphView } from './graph.js';
import type { RetainerTree } from './retainers.js';

export interface ClassTotals {
  /** Per constructor: live objects and their shallow (self) size, bytes. */
  classes: Map<string, { count: number; bytes: number }>;
  /**
   * The highest id of a V8 heap object: objects allocated after this snapshot get higher ids.
   * Embedder (native) and synthetic nodes are left out: their ids come from addresses.
   */
  maxId: number;
  nodeCount: number;
}

export function totalsByClass(v: GraphView): ClassTotals {
  const classes = new Map<string, { count: number; bytes: number }>();
  let maxId = 0;
  const { nodes } = v.g;
  const native = v.g.nodeTypes.indexOf('native');
  const synthetic = v.g.nodeTypes.indexOf('synthetic');
  for (let i = 0; i < v.g.nodeCount; i++) {
    const base = i * v.nf;
    const name = className(v, i);
    let c = classes.get(name);
    if (!c) classes.set(name, (c = { count: 0, bytes: 0 }));
    c.count++;
    c.bytes += nodes[base + v.selfSize]!;
    const type = nodes[base + v.type];
    const id = nodes[base + v.id]!;
    if (id > maxId && type !== native && type !== synthetic) maxId = id;
  }
  return { classes, maxId, nodeCount: v.g.nodeCount };
}

export interface GrownClass {
  name: string;
  /** Live objects and bytes in each snapshot, oldest first. */
  counts: number[];
  bytes: number[];
  /** Growth from the first snapshot to the last. */
  countDelta: number;
  bytesDelta: number;
  /**
   * Bytes allocated in the last interval and still live that this constructor's new objects hold,
   * themselves included (see held.ts); what the ranking goes by.
   */
  heldBytes?: number;
  /** One shortest strong path from the root to an object of this class allocated in the last interval. */
  retainerPath?: string;
}

// Groups that are V8's own bookkeeping, not anything a program constructs.
const INTERNAL = new Set(['(synthetic)', '(compiled code)', '(object shape)']);

/**
 * The constructors whose live count grew in every interval between consecutive snapshots, by
 * bytes added (then objects added), at most `limit` of them (rankByHeld reorders them).
 */
export function grewEveryInterval(totals: readonly ClassTotals[], limit = 10): GrownClass[] {
  if (totals.length < 2) return [];
  const out: GrownClass[] = [];
  for (const name of totals[totals.length - 1]!.classes.keys()) {
    if (INTERNAL.has(name)) continue;
    const counts = totals.map((t) => t.classes.get(name)?.count ?? 0);
    const bytes = totals.map((t) => t.classes.get(name)?.bytes ?? 0);
    let every = true;
    for (let k = 1; k < counts.length && every; k++) every = counts[k]! > counts[k - 1]!;
    if (!every) continue;
    out.push({
      name,
      counts,
      bytes,
      countDelta: counts[counts.length - 1]! - counts[0]!,
      bytesDelta: bytes[bytes.length - 1]! - bytes[0]!,
    });
  }
  out.sort((a, b) => b.bytesDelta - a.bytesDelta || b.countDelta - a.countDelta);
  return out.slice(0, limit);
}

/**
 * Orders the grown constructors by the new bytes they hold (then by their own bytes added), so
 * that a leaked object comes before the strings and arrays it holds; at most `limit`.
 */
export function rankByHeld(grown: GrownClass[], held: ReadonlyMap<string, number>, limit = 10): GrownClass[] {
  for (const c of grown) c.heldBytes = held.get(c.name) ?? 0;
  grown.sort((a, b) => b.heldBytes! - a.heldBytes! || b.bytesDelta - a.bytesDelta || b.countDelta - a.countDelta);
  return grown.slice(0, limit);
}

/** Distinct retainers counted per class; instances retained in yet other ways are not counted. */
const MAX_RETAINER_KINDS = 1000;

interface Group {
  count: number;
  node: number;
  id: number;
}

/** Counts `node` (of `id`) into its group `key`, keeping the group's newest member. */
function count<K>(groups: Map<K, Group>, key: K, node: number, id: number): void {
  const g = groups.get(key);
  if (!g) {
    if (groups.size < MAX_RETAINER_KINDS) groups.set(key, { count: 1, node, id });
  } else {
    g.count++;
    if (id > g.id) {
      g.node = node;
      g.id = id;
    }
  }
}

function largest(groups: Map<unknown, Group>): Group | undefined {
  let best: Group | undefined;
  for (const g of groups.values()) if (!best || g.count > best.count || (g.count === best.count && g.id > best.id)) best = g;
  return best;
}

/**
 * For each wanted class, an instance made after `after` that is retained the way most of them are:
 * the newest of those held by the object that holds most of them (an array, a Map's table); when
 * no object holds two (a linked list), of those held the same way (the holder's class and the
 * edge's kind and name, element indices aside). The newest instance alone may be one another part
 * holds (Node's Buffer pool takes a new Buffer now and then) while the leak holds thousands.
 */
export function typicalOf(
  v: GraphView,
  tree: Pick<RetainerTree, 'parentNode' | 'parentEdge'>,
  wanted: ReadonlySet<string>,
  after: number,
): Map<string, number> {
  const byHolder = new Map<string, Map<number, Group>>();
  const byWay = new Map<string, Map<string, Group>>();
  const { nodes, edges } = v.g;
  const native = v.g.nodeTypes.indexOf('native');
  const element = v.g.edgeTypes.indexOf('element');
  const hidden = v.g.edgeTypes.indexOf('hidden');
  for (let i = 0; i < v.g.nodeCount; i++) {
    const id = nodes[i * v.nf + v.id]!;
    if (id <= after || nodes[i * v.nf + v.type] === native) continue;
    const parent = tree.parentNode[i]!;
    const edge = tree.parentEdge[i]!;
    if (parent === -1 || edge === -1) continue; // unreachable: no path to show
    const name = className(v, i);
    if (!wanted.has(name)) continue;
    let holders = byHolder.get(name);
    let ways = byWay.get(name);
    if (!holders || !ways) {
      byHolder.set(name, (holders = new Map()));
      byWay.set(name, (ways = new Map()));
    }
    count(holders, parent, i, id);
    const type = edges[edge + v.edgeType]!;
    count(ways, `${className(v, parent)}\0${type}\0${type === element || type === hidden ? '' : edges[edge + v.edgeName]!}`, i, id);
  }
  const out = new Map<string, number>();
  for (const [name, holders] of byHolder) {
    const held = largest(holders)!;
    out.set(name, held.count > 1 ? held.node : largest(byWay.get(name)!)!.node);
  }
  return out;
}
