/**
 * Redis key layout of the cluster (docs/cluster.md "Key layout"). One prefix, configurable so
 * several brokers can share a Redis. Per-client keys carry a hash tag `{c:<clientId>}` so that a
 * client's lease, session, queue, in-flight and QoS 2 keys sit in one Redis Cluster slot and a
 * Lua script may touch them together; per-node keys carry `{n:<nodeId>}`.
 *
 * A client id is any UTF-8 string, `}` and `:` included. Two distinct client ids can share a slot
 * (the tag stops at the first `}`) but never a key: every per-client key is
 * `<prefix>{c:` + id + `}:` + suffix, and no suffix below ends with another one, so
 * `A + '}:' + s1 === B + '}:' + s2` forces s1 === s2 and A === B.
 */
export class ClusterKeys {
  constructor(readonly prefix = 'nestmq') {}

  // --- membership and routes: small cluster metadata, all in one slot ({meta}) so one Lua
  // script can read the member set, the heartbeat keys and the route sets together ---
  /** SET of member node ids. */
  get members(): string { return `${this.prefix}:{meta}:nodes`; }
  /** SET of node ids declared dead whose cleanup is not finished. */
  get dying(): string { return `${this.prefix}:{meta}:dying`; }
  /** Heartbeat key of a node (value: start time), with PX. `nodePrefix + id` in Lua. */
  get nodePrefix(): string { return `${this.prefix}:{meta}:node:`; }
  node(id: string): string { return this.nodePrefix + id; }
  /** Cleanup claim of a dead node: SET NX PX by the survivor doing it. */
  get reapPrefix(): string { return `${this.prefix}:{meta}:reap:`; }
  reap(id: string): string { return this.reapPrefix + id; }
  /** SET of the filters held by a node. */
  get routesPrefix(): string { return `${this.prefix}:{meta}:routes:`; }
  routes(id: string): string { return this.routesPrefix + id; }
  /** SET of the nodes that have a route set. */
  get routeNodes(): string { return `${this.prefix}:{meta}:routenodes`; }
  /** Stream of route changes: op '+' | '-' (node n, filter f), 'x' (node n dropped), 'h' (node d dropped, its adopter n gains filters f). */
  get routeLog(): string { return `${this.prefix}:{meta}:routelog`; }

  // --- bus ---
  /** A node's inbox stream. */
  inbox(id: string): string { return `${this.prefix}:{n:${id}}:in`; }
  /** Pub/sub channel that asks a node to close clients (kick). */
  kick(id: string): string { return `${this.prefix}:{n:${id}}:kick`; }
  /** HASH client id -> Will of a client connected to the node (published by a survivor if the node dies). */
  wills(id: string): string { return `${this.prefix}:{n:${id}}:wills`; }
  /** HASH client id -> small JSON (username, protocol level, connectedAt, address, listener): the node's connected clients (admin listing). */
  clients(id: string): string { return `${this.prefix}:{n:${id}}:clients`; }
  /** STRING, PX: the node's latest stats snapshot (admin /api/v1/stats cluster totals). */
  stats(id: string): string { return `${this.prefix}:{n:${id}}:stats`; }
  /**
   * HASH client id -> lease token: the persistent sessions the node holds (written with the
   * session store's batches); a survivor adopts them when the node dies (session-adoption.ts).
   */
  sessionIndex(id: string): string { return `${this.prefix}:{n:${id}}:sessions`; }
  /** STRING: id of the last inbox entry whose messages the node has queued durably (adoption drains after it). */
  inboxPosition(id: string): string { return `${this.prefix}:{n:${id}}:pos`; }

  // --- per client ---
  lease(clientId: string): string { return `${this.prefix}:{c:${clientId}}:lease`; }
  session(clientId: string): string { return `${this.prefix}:{c:${clientId}}:sess`; }
  queue(clientId: string): string { return `${this.prefix}:{c:${clientId}}:queue`; }
  inflight(clientId: string): string { return `${this.prefix}:{c:${clientId}}:infl`; }
  qos2(clientId: string): string { return `${this.prefix}:{c:${clientId}}:qos2`; }

  // --- retained ---
  /** HASH topic -> encoded retained message (one key: SCAN/HSCAN by pattern, one slot). */
  get retained(): string { return `${this.prefix}:retained`; }
}
