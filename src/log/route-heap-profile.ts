// Folds a V8 sampling heap profile (the inspector's HeapProfiler.getSamplingProfile) into bytes per
// route: each allocation node is charged to the nearest frame on its stack that is a known route
// handler (the deepest one, so a handler called from another route's handler keeps its own bytes),
// and to nobody ("unattributed") when no handler is on the stack.

/** Where a function starts, as the inspector reports it in call frames and [[FunctionLocation]]. */
export interface FunctionLocation {
  scriptId: string;
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  callFrame: FunctionLocation & { functionName?: string };
  /** Estimated live bytes allocated at this node (V8 scales each sample by its probability). */
  selfSize: number;
  children: ProfileNode[];
}

export const locationKey = (l: FunctionLocation): string => `${l.scriptId}:${l.lineNumber}:${l.columnNumber}`;

export interface Folded {
  total: number;
  unattributed: number;
  /** Bytes per owner key (a route, or several joined when they share a handler). */
  byOwner: Map<string, number>;
}

/** Walks the tree without recursion (a deep stack must not overflow ours). */
export function foldProfile(head: ProfileNode, owners: ReadonlyMap<string, string>): Folded {
  const byOwner = new Map<string, number>();
  let total = 0;
  let unattributed = 0;
  const stack: { node: ProfileNode; owner: string | undefined }[] = [{ node: head, owner: undefined }];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const { node } = item;
    const owner = owners.get(locationKey(node.callFrame)) ?? item.owner;
    if (node.selfSize > 0) {
      total += node.selfSize;
      if (owner === undefined) unattributed += node.selfSize;
      else byOwner.set(owner, (byOwner.get(owner) ?? 0) + node.selfSize);
    }
    for (const child of node.children) stack.push({ node: child, owner });
  }
  return { total, unattributed, byOwner };
}
