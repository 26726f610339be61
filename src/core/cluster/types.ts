/**
 * The cluster engine: what the broker asks of "the other replicas", independent of the store that
 * carries it. Redis (src/core/cluster/redis-*.ts) is the first implementation; a NATS JetStream one
 * would implement the same five parts (a KV bucket for routes and leases, a stream per node for
 * the bus, KV TTL for membership). Nothing here speaks Redis.
 *
 * Hot-path rules (STYLE.md §5): RouteTable.match() and MessageBus.send() are synchronous, allocate
 * nothing per call once warm, and create no promise per message; a MessageBus batches everything
 * sent in one event-loop turn into one round trip.
 */

export type QoS = 0 | 1 | 2;

/** A message routed to another node: what that node needs to deliver it to its own subscribers. */
export interface ClusterMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** Node that received the PUBLISH (a node never receives its own messages back). */
  origin: string;
  /** Client id of the publisher, so the receiving node honours MQTT 5 No Local. '' when none. */
  publisherId: string;
  /** MQTT 5 PUBLISH properties, already encoded by the codec (opaque here); null for 3.1.1. */
  properties: Buffer | null;
  /**
   * Shared subscriptions: the '$share/group/filter' groups the sending node picked the receiving
   * node for (it delivers to one local member of each). Absent or null: none.
   */
  groups?: readonly string[] | null;
  /** False when the receiver was picked only for `groups`: no delivery to its plain subscriptions. Default true. */
  plain?: boolean;
}

/**
 * Reusable result of RouteTable.match(): the nodes to send a message to (this node included when
 * it holds a matching filter; the caller skips itself), each once. For shared subscriptions one
 * node is picked per group ($share/{group}/{filter}) and `localGroups` lists the groups (as
 * '$share/group/filter' strings) for which THIS node was picked: the local router delivers to one
 * of its members of those groups and to none of the others' [MQTT-4.8.2 shared subscriptions].
 */
export class RouteMatch {
  nodes: string[] = [];
  nodeCount = 0;
  /** nodes[0..plainCount) hold a matching plain filter; the rest were only picked for a group. */
  plainCount = 0;
  localGroups: string[] = [];
  localGroupCount = 0;
  /** Every group pick of this match: group key and the node picked (this one included). */
  pickGroups: string[] = [];
  pickNodes: string[] = [];
  pickCount = 0;
}

/** Cluster-wide table of which node holds which filters. */
export interface RouteTable {
  readonly nodeId: string;
  /** Loads the snapshot and starts following changes; resolves once the local copy is current. */
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * A local subscription to `filter` (plain or '$share/group/filter'). Reference-counted: only the
   * first add of a filter on this node reaches the store. Not awaited on the SUBSCRIBE path: the
   * write is batched per turn; `flushed()` resolves when every earlier change is stored.
   */
  addFilter(filter: string): void;
  /** Reverses one addFilter(); the last one removes the route cluster-wide. */
  removeFilter(filter: string): void;
  /** Resolves when every add/remove made so far is in the store (tests, graceful shutdown). */
  flushed(): Promise<void>;
  /** Nodes with a filter matching `topic`, from the local copy (no I/O). Overwrites `out`. */
  match(topic: string, out: RouteMatch): void;
  /** Convenience over match(): a fresh array of node ids (not for the per-message path). */
  nodesFor(topic: string): string[];
  /** Drops every route of `nodeId` cluster-wide (a dead node's cleanup). */
  dropNode(nodeId: string): Promise<void>;
}

/** Called for every message another node sent to this one, in the order that node sent them. */
export type MessageHandler = (message: ClusterMessage) => void;

/** Called once per flushed batch: `ok` false when the batch did not reach the store. */
export type BatchHandler = (batch: number, ok: boolean) => void;

/** Point-to-point delivery of messages between nodes. */
export interface MessageBus {
  readonly nodeId: string;
  start(onMessage: MessageHandler): Promise<void>;
  close(): Promise<void>;
  /**
   * Queues `message` for `nodes[0..count-1]` (the local node is skipped) and returns the number
   * of the batch it joins; the batch is flushed at the end of the turn. A QoS 1/2 PUBLISH can hold
   * its acknowledgement until onBatch(batch, true), the way the SQLite commit gate does.
   */
  send(message: ClusterMessage, nodes: readonly string[], count: number): number;
  /** Registers the per-batch completion callback (one for the bus, not one per message). */
  onBatch(handler: BatchHandler | null): void;
}

/** Who is alive. */
export interface NodeMembership {
  readonly nodeId: string;
  start(): Promise<void>;
  /** Leaves the cluster cleanly (others see it gone at once, no TTL wait). */
  close(): Promise<void>;
  liveNodes(): Promise<string[]>;
  /**
   * Called on exactly one surviving node per dead node (the one that claimed its cleanup), after
   * the dead node's routes are gone: publish its clients' wills there. If that node dies during
   * the callback, another claims the cleanup again after the claim expires (at least once).
   */
  onNodeDied(handler: ((nodeId: string) => void | Promise<void>) | null): void;
  /**
   * Called on the survivor that claimed a dead node's cleanup BEFORE its routes are dropped (then
   * onNodeDied): adopt its persistent sessions, taking their routes over. A rejection leaves the
   * claim to expire: the whole cleanup is retried (at least once).
   */
  onNodeDying?(handler: ((nodeId: string) => Promise<void>) | null): void;
  /**
   * Called when this node finds itself no longer a member (it paused longer than the TTL, or the
   * store restarted empty): it re-registers, and the other parts re-assert their state.
   */
  onRejoined(handler: (() => void) | null): void;
}

export type Username = string | null;

export type AcquireResult =
  | { token: string; previousOwner: string | null; holder: string | null }
  | { refused: 'owner' }
  /** A survivor is adopting the session right now: ask again shortly (or force). */
  | { adopting: true };

/** Client-id ownership: a lease with a fencing token [MQTT-3.1.4-2 takeover, cluster-wide]. */
export interface ClientLeases {
  readonly nodeId: string;
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Takes `clientId` for this node. The token is strictly greater than every earlier token of this
   * client id; `previousOwner` is the node that held a live lease (ask it to close the old
   * connection: kick()); `holder` is the node that held the session last, connected or not
   * (null: none recorded). Refused when the session belongs to another username.
   */
  acquire(clientId: string, username: Username, keepMs?: number, force?: boolean): Promise<AcquireResult>;
  /** Gives the lease up, only if `token` is still the current one. */
  release(clientId: string, token: string): Promise<boolean>;
  /** Whether `token` is the current token of `clientId`. */
  check(clientId: string, token: string): Promise<boolean>;
  /** Removes the ownership record (session discarded or expired): the username rule ends with it. */
  forget(clientId: string, token: string): Promise<boolean>;
  /** Asks `node` to close `clientId`'s connection older than `token`. */
  kick(node: string, clientId: string, token: string): Promise<void>;
  /** Asks `node` to close `clientId`'s connection as an administrator would (whatever its token). */
  kickAdmin(node: string, clientId: string): Promise<void>;
  /** Called when an administrator asked (kickAdmin) to close a client of this node. */
  onAdminKick(handler: ((clientId: string) => void) | null): void;
  /** Called when another node asks this one to close a client (kick), or a renewal found it lost. */
  onLost(handler: ((clientId: string, token: string, why: 'kicked' | 'expired') => void) | null): void;
}

/** The whole engine, assembled from the parts. */
export interface ClusterEngine {
  readonly nodeId: string;
  readonly routes: RouteTable;
  readonly bus: MessageBus;
  readonly membership: NodeMembership;
  readonly leases: ClientLeases;
  start(onMessage: MessageHandler): Promise<void>;
  close(): Promise<void>;
}
