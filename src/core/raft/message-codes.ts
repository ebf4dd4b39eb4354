// One number per message type. Stable forever: the peer wire codec (src/core/wire/codec.ts) writes it
// as the message tag, and the simulator's trace hash (src/core/sim/simulation.ts) mixes it in, so a
// change here breaks compatibility between nodes and every recorded trace hash.
import type { MessageType } from "./types.ts";

export const MESSAGE_TYPE_CODES = {
  "vote-request": 1,
  "vote-response": 2,
  append: 3,
  "append-response": 4,
  heartbeat: 5,
  "heartbeat-response": 6,
  snapshot: 7,
  "timeout-now": 8,
} as const satisfies Record<MessageType, number>;
