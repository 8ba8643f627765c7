// Folds a V8 sampling heap profile (the inspector's HeapProfiler.getSamplingProfile) into bytes per
// route. Each allocation is charged to the nearest frame on its stack whose function lies inside a
// route handler's source — the handler itself, or a closure written inside it (a .then() callback,
// a timer, a stream listener), which runs with no handler frame below it. The innermost handler
// wins, so a handler called from another route's handler keeps its own bytes; with no handler on
// the stack the bytes are "unattributed".

/** Where a function starts, as the inspector reports it in call frames and [[FunctionLocation]]. */
export interface FunctionLocation {
  scriptId: string;
  lineNumber: number;
  columnNumber: number;
}

/** A handler's source: from its start (as call frames name it) to its end. */
export interface HandlerRange {
  scriptId: string;
  start: number;
  end: number;
  owner: string;
}

export interface ProfileNode {
  callFrame: FunctionLocation & { functionName?: string };
  /** Estimated live bytes allocated at this node (V8 scales each sample by its probability). */
  selfSize: number;
  children: ProfileNode[];
}

/** One number per source position, ordered as the source is (columns of minified code run into millions). */
export const position = (line: number, column: number): number => line * 2 ** 32 + column;

/**
 * Where the source `Function.prototype.toString` gives ends, from where the inspector says the
 * function starts: an arrow function starts where its text does, any other function at its
 * parameters' "(" (after `async function name`, `get name`, …).
 */
export function handlerRange(start: FunctionLocation, source: string, owner: string): HandlerRange {
  const text = source.slice(paramsOffset(source));
  const lines = text.split('\n');
  const last = lines.length - 1;
  const endColumn = last === 0 ? start.columnNumber + text.length : lines[last]!.length;
  return {
    scriptId: start.scriptId,
    start: position(start.lineNumber, start.columnNumber),
    end: position(start.lineNumber + last, endColumn),
    owner,
  };
}

function paramsOffset(source: string): number {
  if (/^(?:async\s+)?[\w$]+\s*=>/.test(source)) return 0; // a => …
  const open = source.indexOf('(');
  if (open < 0) return 0;
  let depth = 0;
  let i = open;
  for (; i < source.length; i++) {
    if (source[i] === '(') depth++;
    else if (source[i] === ')' && --depth === 0) break;
  }
  return /^\s*=>/.test(source.slice(i + 1)) ? 0 : open; // (a) => … starts at its text
}

export interface Folded {
  total: number;
  unattributed: number;
  /** Bytes per owner (a route, or several joined when they share a handler). */
  byOwner: Map<string, number>;
}

/** The owner of a frame: the innermost handler range around where its function starts. */
function resolver(ranges: readonly HandlerRange[]): (frame: FunctionLocation) => string | undefined {
  const byScript = new Map<string, HandlerRange[]>();
  for (const r of ranges) byScript.set(r.scriptId, [...(byScript.get(r.scriptId) ?? []), r]);
  const seen = new Map<string, string | undefined>();
  return (frame) => {
    const inScript = byScript.get(frame.scriptId);
    if (!inScript) return undefined;
    const key = `${frame.scriptId}:${frame.lineNumber}:${frame.columnNumber}`;
    if (seen.has(key)) return seen.get(key);
    const at = position(frame.lineNumber, frame.columnNumber);
    let best: HandlerRange | undefined;
    for (const r of inScript) if (r.start <= at && at < r.end && (!best || r.start > best.start)) best = r;
    seen.set(key, best?.owner);
    return best?.owner;
  };
}

/** Walks the tree without recursion (a deep stack must not overflow ours). */
export function foldProfile(head: ProfileNode, ranges: readonly HandlerRange[]): Folded {
  const ownerOf = resolver(ranges);
  const byOwner = new Map<string, number>();
  let total = 0;
  let unattributed = 0;
  const stack: { node: ProfileNode; owner: string | undefined }[] = [{ node: head, owner: undefined }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { node } = item;
    const owner = ownerOf(node.callFrame) ?? item.owner;
    if (node.selfSize > 0) {
      total += node.selfSize;
      if (owner === undefined) unattributed += node.selfSize;
      else byOwner.set(owner, (byOwner.get(owner) ?? 0) + node.selfSize);
    }
    for (const child of node.children) stack.push({ node: child, owner });
  }
  return { total, unattributed, byOwner };
}
