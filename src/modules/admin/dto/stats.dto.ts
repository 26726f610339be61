import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { Broker } from '../../../core';

export class ConnectionStatsDto {
  @ApiProperty({ description: 'open sockets, connected or not yet' }) current!: number;
  @ApiProperty({ description: 'clients connected (CONNECT accepted)' }) clients!: number;
  @ApiProperty({ description: 'most clients connected at once since start' }) maximum!: number;
  @ApiProperty({ description: 'connections accepted since start' }) total!: number;
  @ApiProperty({ description: 'connections refused at a max-connections limit' }) refused!: number;
  @ApiProperty({ description: 'CONNECTs refused (CONNACK 0x03) at max-sessions / max-sessions-per-user' }) refusedSessionLimit!: number;
  @ApiProperty({ description: 'subscribers closed because their queue overflowed with nobody (left) to pause' }) closedQueueOverflow!: number;
  @ApiProperty({ description: 'sockets closed at accept: their address had max-connections-per-address open' }) refusedAddressLimit!: number;
  @ApiProperty({ description: 'connections closed: first packet (CONNECT) beyond max-connect-packet-size' }) closedConnectTooLarge!: number;
}

export class MessageStatsDto {
  @ApiProperty({ description: 'application messages routed (client publishes and Wills)' }) received!: number;
  @ApiProperty({ description: 'application messages delivered to subscribers' }) sent!: number;
  @ApiProperty({ description: 'PUBLISH packets received' }) publishReceived!: number;
  @ApiProperty({ description: 'PUBLISH packets sent, re-sends included' }) publishSent!: number;
  @ApiProperty({ description: 'QoS 0 messages dropped for a slow consumer' }) droppedSlowConsumer!: number;
  @ApiProperty({ description: 'messages dropped because a session queue was full' }) droppedQueueFull!: number;
  @ApiProperty({ description: 'publishes refused by authorization' }) droppedUnauthorized!: number;
  @ApiProperty({ description: 'publishers resumed at max-publisher-pause while a subscriber still held them back' }) publisherPauseExpired!: number;
  @ApiProperty({ description: 'retained messages not stored at a max-retained-* limit (still delivered)' }) refusedRetainedQuota!: number;
  @ApiProperty({ description: 'SUBSCRIBE filters refused beyond max-filters-per-subscribe' }) refusedSubscribeFilters!: number;
  @ApiProperty({ description: '$share subscriptions refused (SUBACK 0x80) at max-shared-groups / max-shared-group-members' }) refusedSharedLimit!: number;
  @ApiProperty({ description: 'messages of a share-group member that went away, handed to another member' }) sharedRedispatched!: number;
}

export class ByteStatsDto {
  @ApiProperty() received!: number;
  @ApiProperty() sent!: number;
}

/** GET /api/v1/stats: the broker's figures at this instant. */
export class QueueStatsDto {
  @ApiProperty({ description: 'outbound QoS 1/2 messages awaiting acknowledgement, all sessions' }) inflightOut!: number;
  @ApiProperty({ description: 'inbound QoS 2 messages awaiting PUBREL' }) inflightIn!: number;
  @ApiProperty({ description: 'messages queued in sessions (offline, or beyond the in-flight window)' }) queued!: number;
  @ApiProperty({ description: 'payload bytes queued' }) queuedBytes!: number;
}

export class BrokerStatsDto {
  @ApiProperty({ example: '0.1.0' }) version!: string;
  @ApiProperty({ enum: ['new', 'starting', 'started', 'stopping', 'stopped'] }) state!: string;
  @ApiProperty({ example: 3600.5 }) uptimeSeconds!: number;
  @ApiProperty({ type: ConnectionStatsDto }) connections!: ConnectionStatsDto;
  @ApiProperty({ description: 'sessions held, connected or not' }) sessions!: number;
  @ApiProperty({ description: 'subscriptions across all sessions' }) subscriptions!: number;
  @ApiProperty({ description: 'retained messages stored' }) retained!: number;
  @ApiProperty({ type: MessageStatsDto }) messages!: MessageStatsDto;
  @ApiProperty({ type: ByteStatsDto }) bytes!: ByteStatsDto;
  @ApiProperty({ type: QueueStatsDto, description: 'messages held in sessions (the queue depth)' }) queues!: QueueStatsDto;

  static from(broker: Broker): BrokerStatsDto {
    const s = broker.stats;
    return Object.assign(new BrokerStatsDto(), {
      version: broker.version,
      state: broker.state,
      uptimeSeconds: Math.round(broker.uptimeSeconds * 1000) / 1000,
      connections: Object.assign(new ConnectionStatsDto(), {
        current: broker.connectionCount,
        clients: broker.clientCount,
        maximum: s.clientsMaximum,
        total: s.connectionsTotal,
        refused: s.connectionsRefused,
        refusedSessionLimit: s.refusedSessionLimit,
        closedQueueOverflow: s.closedQueueOverflow,
        refusedAddressLimit: s.refusedAddressLimit,
        closedConnectTooLarge: s.closedConnectTooLarge,
      }),
      sessions: broker.sessionCount,
      subscriptions: broker.subscriptionCount,
      retained: broker.retainedCount,
      messages: Object.assign(new MessageStatsDto(), {
        received: s.messagesReceived,
        sent: s.messagesSent,
        publishReceived: s.publishReceived,
        publishSent: s.publishSent,
        droppedSlowConsumer: s.droppedSlowConsumer,
        droppedQueueFull: s.droppedQueueFull,
        droppedUnauthorized: s.droppedUnauthorized,
        publisherPauseExpired: s.publisherPauseExpired,
        refusedRetainedQuota: s.refusedRetainedQuota,
        refusedSubscribeFilters: s.refusedSubscribeFilters,
        refusedSharedLimit: s.refusedSharedLimit,
        sharedRedispatched: s.sharedRedispatched,
      }),
      bytes: Object.assign(new ByteStatsDto(), { received: s.bytesReceived, sent: s.bytesSent }),
      queues: Object.assign(new QueueStatsDto(), broker.sessionTotals()),
    });
  }
}

/** One node's latest snapshot in Redis (every 2 s, kept 6 s), clustered only. */
export class NodeStatsDto {
  @ApiProperty() connections!: number;
  @ApiProperty() clientsConnected!: number;
  @ApiProperty() sessions!: number;
  @ApiProperty() subscriptions!: number;
  @ApiProperty() retainedMessages!: number;
  @ApiProperty() messagesReceived!: number;
  @ApiProperty() messagesSent!: number;
  @ApiProperty() publishReceived!: number;
  @ApiProperty() publishSent!: number;
  @ApiProperty() bytesReceived!: number;
  @ApiProperty() bytesSent!: number;
  @ApiProperty() uptimeSeconds!: number;
  @ApiProperty({ description: 'when the snapshot was taken (ms since the epoch)' }) at!: number;
}

/** Sums over the nodes' snapshots (uptimeSeconds and at excluded). */
export class ClusterTotalsDto {
  @ApiProperty({ description: 'member nodes' }) nodes!: number;
  @ApiProperty({ description: 'members whose snapshot is missing (not counted in the sums)' }) nodesWithoutStats!: number;
  @ApiProperty() connections!: number;
  @ApiProperty() clientsConnected!: number;
  @ApiProperty() subscriptions!: number;
  @ApiProperty() messagesReceived!: number;
  @ApiProperty() messagesSent!: number;
  @ApiProperty() publishReceived!: number;
  @ApiProperty() publishSent!: number;
  @ApiProperty() bytesReceived!: number;
  @ApiProperty() bytesSent!: number;
}

/** GET /api/v1/stats on a cluster node: this node's figures as usual, plus every node's and the totals. */
export class ClusterBrokerStatsDto extends BrokerStatsDto {
  @ApiPropertyOptional({ example: 'nestmq-0', description: 'clustered only: this node' }) node?: string;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { $ref: '#/components/schemas/NodeStatsDto' },
    description: 'clustered only: node id -> its latest snapshot (null when expired)',
  })
  nodes?: Record<string, NodeStatsDto | null>;
  @ApiPropertyOptional({ type: ClusterTotalsDto, description: 'clustered only' }) cluster?: ClusterTotalsDto;

  static totals(nodes: Record<string, Record<string, number> | null>): ClusterTotalsDto {
    const keys = ['connections', 'clientsConnected', 'subscriptions', 'messagesReceived', 'messagesSent', 'publishReceived', 'publishSent', 'bytesReceived', 'bytesSent'] as const;
    const out = Object.assign(new ClusterTotalsDto(), { nodes: 0, nodesWithoutStats: 0 }) as ClusterTotalsDto & Record<string, number>;
    for (const k of keys) out[k] = 0;
    for (const snap of Object.values(nodes)) {
      out.nodes++;
      if (snap === null) {
        out.nodesWithoutStats++;
        continue;
      }
      for (const k of keys) out[k] += snap[k] ?? 0;
    }
    return out;
  }
}

/** POST /api/v1/shutdown's answer, sent before the process begins to stop. */
export class ShutdownAcceptedDto {
  @ApiProperty({ example: 'shutting down' }) status!: string;
  @ApiProperty({ example: 10, description: 'the process exits within this many seconds' }) gracePeriodSeconds!: number;
}
