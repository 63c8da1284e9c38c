/** What the simulator's reply mutator sees and returns (see Simulator.setMutator and test/fuzz). */
export interface WireReply {
  status: number;
  /** In order; a name may repeat (odd or duplicated headers are part of what is fuzzed). */
  headers: [string, string][];
  body: string | Buffer;
}

export interface MutationContext {
  path: string;
  method: string;
  query: URLSearchParams;
  reply: WireReply;
  /** The reply's number since the simulator started (1-based). */
  nth: number;
}

/** Returns the reply to send instead, or undefined to send it unchanged. */
export type Mutator = (ctx: MutationContext) => WireReply | undefined;
