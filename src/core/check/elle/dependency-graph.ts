// A directed graph of transactions whose edges carry the kinds of dependency between them
// (a bit set: ww, wr, rw, rt), its strongly connected components (Tarjan, iterative), and the
// shortest cycle through an edge using only some kinds (breadth-first): what Elle's cycle search
// needs. Nodes are small integers; iteration follows insertion order, so results depend only on
// the input.
import { assert } from "../../assert.ts";

export const WW = 1;
export const WR = 2;
export const RW = 4;
export const RT = 8;

export class DependencyGraph {
  /** Per node: successor -> kinds (bits). */
  private readonly out: Array<Map<number, number>> = [];

  constructor(readonly nodeCount: number) {
    assert(Number.isSafeInteger(nodeCount) && nodeCount >= 0, "a graph has a whole number of nodes");
    for (let i = 0; i < nodeCount; i++) this.out.push(new Map());
  }

  add(from: number, to: number, kind: number): void {
    assert(from >= 0 && from < this.nodeCount && to >= 0 && to < this.nodeCount, () => `edge ${from} -> ${to} outside the graph`);
    assert(kind === WW || kind === WR || kind === RW || kind === RT, () => `unknown edge kind ${kind}`);
    if (from === to) return; // a transaction's dependency on itself is no cycle between transactions
    assert(this.compacted === undefined, "edges are added before the graph is searched");
    const successors = this.out[from]!;
    successors.set(to, (successors.get(to) ?? 0) | kind);
  }

  kinds(from: number, to: number): number {
    return this.out[from]?.get(to) ?? 0;
  }

  successors(node: number): ReadonlyMap<number, number> {
    return this.out[node]!;
  }

  /**
   * Components with more than one node of the subgraph of `allowed` edge kinds among `within`
   * (all nodes when undefined), each as its nodes in ascending order; components in order of
   * their smallest node.
   */
  cyclicComponents(allowed = WW | WR | RW | RT, within?: ReadonlySet<number>): number[][] {
    const { offsets, targets, kinds } = this.compact();
    const included = within === undefined ? undefined : new Uint8Array(this.nodeCount);
    if (included !== undefined) for (const v of within!) included[v] = 1;
    const index = new Int32Array(this.nodeCount).fill(-1);
    const low = new Int32Array(this.nodeCount);
    const onStack = new Uint8Array(this.nodeCount);
    const stack: number[] = [];
    const components: number[][] = [];
    let counter = 0;
    // Iterative Tarjan over the compact form: frames of (node, next edge position) instead of
    // recursion, so a long chain cannot overflow the stack.
    const frameNodes = new Int32Array(this.nodeCount);
    const framePositions = new Int32Array(this.nodeCount);
    const roots = within === undefined ? undefined : [...within].sort((a, b) => a - b);
    for (let r = 0; r < (roots?.length ?? this.nodeCount); r++) {
      const root = roots === undefined ? r : roots[r]!;
      if (index[root] !== -1) continue;
      let depth = 0;
      frameNodes[0] = root;
      framePositions[0] = offsets[root]!;
      index[root] = low[root] = counter++;
      stack.push(root);
      onStack[root] = 1;
      while (depth >= 0) {
        const node = frameNodes[depth]!;
        const position = framePositions[depth]!;
        if (position < offsets[node + 1]!) {
          framePositions[depth] = position + 1;
          const successor = targets[position]!;
          if ((kinds[position]! & allowed) === 0 || (included !== undefined && included[successor] === 0)) continue;
          if (index[successor] === -1) {
            index[successor] = low[successor] = counter++;
            stack.push(successor);
            onStack[successor] = 1;
            depth++;
            frameNodes[depth] = successor;
            framePositions[depth] = offsets[successor]!;
          } else if (onStack[successor] === 1) {
            low[node] = Math.min(low[node]!, index[successor]!);
          }
          continue;
        }
        depth--;
        if (depth >= 0) {
          const parent = frameNodes[depth]!;
          low[parent] = Math.min(low[parent]!, low[node]!);
        }
        if (low[node] === index[node]) {
          const component: number[] = [];
          for (;;) {
            const member = stack.pop()!;
            onStack[member] = 0;
            component.push(member);
            if (member === node) break;
          }
          if (component.length > 1) components.push(component.sort((a, b) => a - b));
        }
      }
    }
    assert(stack.length === 0, "every node left Tarjan's stack");
    return components.sort((a, b) => a[0]! - b[0]!);
  }

  private compacted: { offsets: Int32Array; targets: Int32Array; kinds: Uint8Array } | undefined;

  /** The edges as arrays (offsets per node into targets and kinds), built once after the last add. */
  private compact(): { offsets: Int32Array; targets: Int32Array; kinds: Uint8Array } {
    if (this.compacted !== undefined) return this.compacted;
    let edges = 0;
    for (const successors of this.out) edges += successors.size;
    const offsets = new Int32Array(this.nodeCount + 1);
    const targets = new Int32Array(edges);
    const kinds = new Uint8Array(edges);
    let at = 0;
    for (let v = 0; v < this.nodeCount; v++) {
      offsets[v] = at;
      for (const [successor, kind] of this.out[v]!) {
        targets[at] = successor;
        kinds[at] = kind;
        at++;
      }
    }
    offsets[this.nodeCount] = at;
    assert(at === edges, "every edge is in the compact form");
    this.compacted = { offsets, targets, kinds };
    return this.compacted;
  }

  /**
   * The shortest path from `from` to `to` inside `within`, using only edges that have one of the
   * kinds in `allowed`; the nodes from `from` to `to`, or undefined.
   */
  shortestPath(from: number, to: number, allowed: number, within: ReadonlySet<number>): number[] | undefined {
    assert(within.has(from) && within.has(to), "a path's ends are inside its component");
    const previous = new Map<number, number>([[from, -1]]);
    let frontier = [from];
    while (frontier.length > 0) {
      const next: number[] = [];
      for (const node of frontier) {
        for (const [successor, kinds] of this.out[node]!) {
          if ((kinds & allowed) === 0 || !within.has(successor) || previous.has(successor)) continue;
          previous.set(successor, node);
          if (successor === to) {
            const path = [to];
            for (let at = node; at !== -1; at = previous.get(at)!) path.push(at);
            path.reverse();
            assert(path[0] === from && path[path.length - 1] === to, "a path runs from its start to its end");
            return path;
          }
          next.push(successor);
        }
      }
      frontier = next;
    }
    return undefined;
  }
}
