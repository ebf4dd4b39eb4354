// The process's clock and heap for the history checker's time budget and heap guard.
// The checker itself is core code and reads neither (src/core/check/checker.ts).
import { performance } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import type { CheckResources } from "../../core/check/checker.ts";

export const systemCheckResources: CheckResources = {
  nowMs: () => performance.now(),
  heapUsedBytes: () => getHeapStatistics().used_heap_size,
  heapLimitBytes: getHeapStatistics().heap_size_limit,
};
