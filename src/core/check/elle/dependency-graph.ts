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
export const EDGE_KIND_NAMES: Readonly<Record<number, string>> = { [WW]: "ww", [WR]: "wr", [RW]: "rw", [RT]: "rt" };

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
    const successors = this.out[from]!;
    successors.set(to, (successors.get(to) ?? 0) | kind);
  }

  kinds(from: number, to: number): number {
    return this.out[from]?.get(to) ?? 0;
  }

  successors(node: number): ReadonlyMap<number, number> {
    return this.out[node]!;
  }

  /** Components with more than one node, each as its nodes in ascending order; components in order of their smallest node. */
  cyclicComponents(): number[][] {
    const index = new Int32Array(this.nodeCount).fill(-1);
    const low = new Int32Array(this.nodeCount);
    const onStack = new Uint8Array(this.nodeCount);
    const stack: number[] = [];
    const components: number[][] = [];
    let counter = 0;
    // Iterative Tarjan: (node, its successors' iterator) frames instead of recursion, so a long chain cannot overflow the stack.
    for (let root = 0; root < this.nodeCount; root++) {
      if (index[root] !== -1) continue;
      const frames: Array<{ node: number; next: Iterator<number> }> = [{ node: root, next: this.out[root]!.keys() }];
      index[root] = low[root] = counter++;
      stack.push(root);
      onStack[root] = 1;
      while (frames.length > 0) {
        const frame = frames[frames.length - 1]!;
        const step = frame.next.next();
        if (!step.done) {
          const successor = step.value;
          if (index[successor] === -1) {
            index[successor] = low[successor] = counter++;
            stack.push(successor);
            onStack[successor] = 1;
            frames.push({ node: successor, next: this.out[successor]!.keys() });
          } else if (onStack[successor] === 1) {
            low[frame.node] = Math.min(low[frame.node]!, index[successor]!);
          }
          continue;
        }
        frames.pop();
        const node = frame.node;
        if (frames.length > 0) {
          const parent = frames[frames.length - 1]!.node;
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
