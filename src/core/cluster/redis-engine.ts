/**
 * The Redis ClusterEngine: the four parts wired together. Membership's cleanup of a dead node
 * drops its routes (before onNodeDied publishes its wills); a rejoin (we were declared dead, or
 * Redis restarted empty) makes the route table re-assert this node's filters.
 */
import { ClusterKeys } from './keys';
import { RedisClientLeases } from './redis-client-leases';
import type { RedisFactory } from './redis-connection';
import { RedisMembership } from './redis-membership';
import { RedisMessageBus } from './redis-message-bus';
import { RedisRouteTable } from './redis-route-table';
import type { ClusterEngine, MessageHandler } from './types';

export interface RedisClusterOptions {
  nodeId: string;
  connect: RedisFactory;
  prefix?: string;
  nodeTtlMs?: number;
  reapMs?: number;
  leaseMs?: number;
  inboxMaxLen?: number;
  blockMs?: number;
  /** Strict durability: WAIT for this many replicas after each bus batch (RedisMessageBusOptions). */
  waitReplicas?: number;
  waitTimeoutMs?: number;
}

export class RedisClusterEngine implements ClusterEngine {
  readonly nodeId: string;
  readonly routes: RedisRouteTable;
  readonly bus: RedisMessageBus;
  readonly membership: RedisMembership;
  readonly leases: RedisClientLeases;

  constructor(options: RedisClusterOptions) {
    const keys = new ClusterKeys(options.prefix);
    const { nodeId, connect, blockMs } = options;
    this.nodeId = nodeId;
    this.routes = new RedisRouteTable({ nodeId, connect, keys, blockMs });
    this.bus = new RedisMessageBus({ nodeId, connect, keys, blockMs, maxLen: options.inboxMaxLen, waitReplicas: options.waitReplicas, waitTimeoutMs: options.waitTimeoutMs });
    this.membership = new RedisMembership({
      nodeId, connect, keys, ttlMs: options.nodeTtlMs, reapMs: options.reapMs, cleanup: (id) => this.routes.dropNode(id),
    });
    this.leases = new RedisClientLeases({ nodeId, connect, keys, leaseMs: options.leaseMs });
    // Each inbox entry carries the route-log position its messages were routed with (adoption's cut).
    this.bus.routePosition = () => this.routes.appliedPosition;
    this.membership.onRejoined(() => this.routes.requestResync());
  }

  async start(onMessage: MessageHandler): Promise<void> {
    await Promise.all([this.routes.start(), this.bus.start(onMessage), this.leases.start()]);
    await this.membership.start(); // last: others route to us only once we can receive
  }

  async close(): Promise<void> {
    await this.membership.close(); // first: a clean leave, no TTL wait for the others
    await Promise.all([this.routes.close(), this.bus.close(), this.leases.close()]);
  }
}
