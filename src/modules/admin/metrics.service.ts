import { Inject, Injectable, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { Broker, type BrokerStats } from '../../core';
import { AdminExpressAdapter, AdminHttpStats } from './admin-http';

type Stats = Readonly<BrokerStats>;

/** Protocol level -> the version label of nestmq_clients_connected_by_protocol. */
const PROTOCOL_VERSIONS: readonly (readonly [number, string])[] = [
  [3, '3.1'],
  [4, '3.1.1'],
  [5, '5.0'],
];

/**
 * Prometheus metrics: a registry of this application's own (never prom-client's global one),
 * with the default process metrics plus the broker's figures. Every broker metric is read from
 * the Broker's counters at scrape time (`collect`): nothing is counted twice and the packet path
 * pays nothing for metrics.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  constructor(@Inject(Broker) broker: Broker, @Optional() @Inject(HttpAdapterHost) adapterHost?: HttpAdapterHost) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    const stats = (): Stats => broker.stats;

    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    const counter = (name: string, help: string, read: (s: Stats) => number): void => {
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read(stats()));
        },
      });
    };
    const labelled = (name: string, help: string, label: string, read: (s: Stats) => Record<string, number>): void => {
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          this.reset();
          for (const [value, n] of Object.entries(read(stats()))) this.inc({ [label]: value }, n);
        },
      });
    };

    new Gauge({
      name: 'nestmq_info',
      help: 'nestmq version (always 1)',
      labelNames: ['version'],
      registers,
      collect() {
        this.reset();
        this.set({ version: broker.version }, 1);
      },
    });
    gauge('nestmq_up', '1 while the broker is started and every listener bound, else 0', () => (broker.ready ? 1 : 0));
    gauge('nestmq_uptime_seconds', 'Seconds since the broker started', () => broker.uptimeSeconds);
    gauge('nestmq_connections', 'Open MQTT connections (sockets), connected or not yet', () => broker.connectionCount);
    gauge('nestmq_clients_connected', 'Connected clients (CONNECT accepted)', () => broker.clientCount);
    new Gauge({
      name: 'nestmq_clients_connected_by_protocol',
      help: 'Connected clients by MQTT version (protocol level 3: 3.1, 4: 3.1.1, 5: 5.0)',
      labelNames: ['protocol_version'],
      registers,
      collect() {
        const byLevel = stats().clientsByProtocolLevel;
        for (const [level, version] of PROTOCOL_VERSIONS) this.set({ protocol_version: version }, byLevel[level]);
      },
    });
    gauge('nestmq_clients_maximum', 'Most clients connected at once since start', () => stats().clientsMaximum);
    gauge('nestmq_sessions', 'Sessions held, connected or not', () => broker.sessionCount);
    gauge('nestmq_subscriptions', 'Subscriptions across all sessions', () => broker.subscriptionCount);
    gauge('nestmq_retained_messages', 'Retained messages stored', () => broker.retainedCount);
    gauge('nestmq_queued_messages', 'Messages held in session queues, all sessions', () => broker.queuedMessages);
    gauge('nestmq_queued_bytes', 'Payload bytes held in session queues, reserves included', () => broker.queuedBytes);
    gauge(
      'nestmq_queued_bytes_shared',
      'Payload bytes queued beyond the sessions\' reserves: what counts against limits.max-queued-bytes',
      () => broker.sharedQueuedBytes,
    );
    gauge('nestmq_queued_bytes_limit', 'limits.max-queued-bytes', () => broker.config.limits.maxQueuedBytes);
    new Gauge({
      name: 'nestmq_listener_connections',
      help: 'Open connections per listener',
      labelNames: ['listener'],
      registers,
      collect() {
        this.reset();
        for (const l of broker.listenerStatus()) this.set({ listener: l.name }, l.connections);
      },
    });

    counter('nestmq_connections_total', 'Connections accepted since start', (s) => s.connectionsTotal);
    counter('nestmq_connections_refused_total', 'Connections refused at a listener max-connections limit', (s) => s.connectionsRefused);
    counter('nestmq_messages_received_total', 'Application messages routed (client publishes and Wills)', (s) => s.messagesReceived);
    counter('nestmq_messages_sent_total', 'Application messages delivered to subscribers', (s) => s.messagesSent);
    counter('nestmq_publish_received_total', 'PUBLISH packets received', (s) => s.publishReceived);
    counter('nestmq_publish_sent_total', 'PUBLISH packets sent, re-sends included', (s) => s.publishSent);
    counter('nestmq_bytes_received_total', 'Bytes read from client connections', (s) => s.bytesReceived);
    counter('nestmq_bytes_sent_total', 'Bytes written to client connections', (s) => s.bytesSent);
    counter('nestmq_sessions_expired_total', 'Persistent sessions removed after session-expiry', (s) => s.sessionsExpired);
    counter('nestmq_auth_failures_total', 'CONNECTs refused by the authentication plugins (CONNACK 0x04 or 0x05)', (s) => s.authFailures);
    counter('nestmq_auth_abandoned_total', 'Password verifications dropped unstarted because the client had left', (s) => s.authAbandoned);
    counter(
      'nestmq_publisher_pause_expired_total',
      'Publishers resumed at max-publisher-pause while a subscriber still held them back (that subscriber pays from then on)',
      (s) => s.publisherPauseExpired,
    );
    counter('nestmq_shared_redispatched_total', 'Messages of a share-group member that went away, handed to another member', (s) => s.sharedRedispatched);
    counter('nestmq_retained_expired_total', 'Retained messages removed at their MQTT 5 Message Expiry Interval', (s) => s.retainedExpired);
    counter('nestmq_protocol_errors_total', 'Connections closed for a protocol violation', (s) => s.protocolErrors);
    labelled('nestmq_messages_dropped_total', 'Messages not delivered, by reason', 'reason', (s) => ({
      slow_consumer: s.droppedSlowConsumer,
      queue_full: s.droppedQueueFull,
      unauthorized: s.droppedUnauthorized,
      packet_too_large: s.droppedPacketTooLarge,
      payload_format: s.droppedPayloadFormat,
    }));
    labelled('nestmq_connections_closed_total', 'Connections closed by a limit, by reason', 'reason', (s) => ({
      packet_too_large: s.closedPacketTooLarge,
      connect_timeout: s.closedConnectTimeout,
      connect_too_large: s.closedConnectTooLarge,
      address_limit: s.refusedAddressLimit,
      keepalive: s.closedKeepalive,
      topic_limit: s.closedTopicLimit,
      queue_overflow: s.closedQueueOverflow,
      receive_maximum: s.closedReceiveMaximum,
    }));
    labelled('nestmq_refused_total', 'Requests refused by a limit, by reason', 'reason', (s) => ({
      subscription_limit: s.refusedSubscriptionLimit,
      client_id_length: s.refusedClientIdLength,
      session_owner: s.refusedSessionOwner,
      auth_busy: s.refusedAuthBusy,
      auth_failures: s.refusedAuthFailures,
      session_limit: s.refusedSessionLimit,
      filters_per_subscribe: s.refusedSubscribeFilters,
      shared_limit: s.refusedSharedLimit,
      retained_quota: s.refusedRetainedQuota,
    }));
    // Reason Codes sent, labelled as the spec writes them ("0x87"); only codes sent at least once.
    const byReasonCode = (counts: Uint32Array): Record<string, number> => {
      const out: Record<string, number> = {};
      for (let code = 0; code < counts.length; code++) {
        if (counts[code] !== 0) out[`0x${code.toString(16).padStart(2, '0')}`] = counts[code];
      }
      return out;
    };
    labelled(
      'nestmq_connack_sent_total',
      'CONNACKs sent, by MQTT 5 Reason Code (a 3.1.1 return code counts under the code it was folded from)',
      'reason_code',
      (s) => byReasonCode(s.reasonCodesSent.connack),
    );
    labelled(
      'nestmq_disconnect_sent_total',
      'DISCONNECTs sent (MQTT 5 clients only), by Reason Code',
      'reason_code',
      (s) => byReasonCode(s.reasonCodesSent.disconnect),
    );
    // The persistence backend's counters (Redis store: batches, failures, fenced writes), one
    // counter each; the list is fixed per backend, so it is read once here.
    for (const { name, help } of broker.storeCounters()) {
      new Counter({
        name: `nestmq_store_${name}_total`,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(broker.storeCounters().find((c) => c.name === name)?.value ?? 0);
        },
      });
    }
    // Clustered only (docs/cluster.md): Redis, the bus, routes, leases.
    const cluster = broker.cluster;
    if (cluster !== null) {
      const engine = cluster.engine;
      gauge('nestmq_cluster_redis_up', '1 while Redis answers and this node is a cluster member, else 0', () => (cluster.redisUp ? 1 : 0));
      const plain = (name: string, help: string, read: () => number): void => {
        new Counter({
          name,
          help,
          registers,
          collect() {
            this.reset();
            this.inc(read());
          },
        });
      };
      plain('nestmq_cluster_bus_batches_sent_total', 'Bus batches (one pipeline per turn) sent to Redis', () => engine.bus.stats.sentBatches);
      plain('nestmq_cluster_bus_batches_failed_total', 'Bus batches Redis did not accept (unreachable): their QoS 1/2 messages were not acknowledged', () => engine.bus.stats.failedBatches);
      plain('nestmq_cluster_bus_messages_sent_total', 'Messages written to other nodes\' inboxes (one per destination node)', () => engine.bus.stats.sentMessages);
      plain('nestmq_cluster_bus_messages_dropped_total', 'Messages for other nodes dropped because Redis was unreachable', () => engine.bus.stats.droppedMessages);
      plain('nestmq_cluster_bus_bytes_sent_total', 'Frame bytes written to other nodes\' inboxes', () => engine.bus.stats.sentBytes);
      plain('nestmq_cluster_bus_messages_received_total', 'Messages read from this node\'s inbox', () => engine.bus.stats.receivedMessages);
      plain('nestmq_cluster_bus_wait_short_total', 'Bus batches whose WAIT saw fewer replicas than persistence.redis-wait-replicas (not acknowledged)', () => engine.bus.stats.waitShort);
      plain('nestmq_cluster_bus_malformed_entries_total', 'Inbox entries skipped as malformed', () => engine.bus.stats.malformedEntries);
      gauge('nestmq_cluster_routes_local', 'Distinct filters this node holds as routes', () => engine.routes.localFilterCount);
      plain('nestmq_cluster_route_resyncs_total', 'Route table resyncs (log gap, rejoin, Redis restart)', () => engine.routes.stats.resyncs);
      gauge('nestmq_cluster_leases', 'Client id leases held by this node', () => engine.leases.size);
      plain('nestmq_cluster_leases_lost_total', 'Leases lost (taken over by another node, or not renewed in time)', () => engine.leases.stats.lost);
      plain('nestmq_cluster_kicks_sent_total', 'Kicks sent to other nodes (takeovers, admin disconnects)', () => engine.leases.stats.kicksSent);
      plain('nestmq_cluster_flow_pauses_total', 'Publishers here paused because a destination node said busy (a subscriber there over its queue)', () => cluster.flow?.stats.clusterFlowPauses ?? 0);
      plain('nestmq_cluster_flow_busy_sent_total', 'Busy signals sent: a subscriber here held another node\'s messages back', () => cluster.flow?.stats.clusterFlowBusySent ?? 0);
      plain('nestmq_cluster_bus_read_pauses_total', 'Times this node paused reading its inbox (cross-node flow control)', () => engine.bus.stats.readPauses);
      plain('nestmq_cluster_orphan_wills_published_total', 'Wills of dead or drained nodes\' clients published here', () => cluster.stats.orphanWillsPublished);
      plain('nestmq_cluster_orphan_wills_skipped_total', 'Of those, not published: the client had taken its id again elsewhere', () => cluster.stats.orphanWillsSkipped);
      plain('nestmq_cluster_leftover_wills_handed_over_total', 'Starts that found Will records of an earlier run of this node id and handed them to the survivors', () => cluster.stats.leftoverWillsHandedOver);
      plain('nestmq_cluster_drain_handovers_total', 'Drains that left this node\'s persistent sessions (or Wills) to adoption by a survivor', () => cluster.stats.drainHandOvers);
      plain('nestmq_cluster_earlier_runs_adopted_total', 'Starts that adopted the persistent sessions of an earlier run of this node id', () => cluster.stats.earlierRunsAdopted);
      plain('nestmq_cluster_wills_handed_over_total', 'Wills handed over to the survivors at a drain (sessions that go on)', () => cluster.stats.willsHandedOver);
      plain('nestmq_cluster_sessions_adopted_total', 'Persistent sessions of dead nodes adopted here (docs/cluster.md "Losing a node")', () => cluster.adoptionStats.sessionsAdopted);
      plain('nestmq_cluster_adopted_messages_total', 'Messages of dead nodes\' unread inboxes queued into the sessions adopted here', () => cluster.adoptionStats.messagesRecovered);
      plain('nestmq_cluster_returned_forwarded_messages_total', 'Messages of dead nodes\' unread inboxes forwarded from here to clients that came back on another node first', () => cluster.adoptionStats.messagesForwarded);
      plain('nestmq_cluster_adopted_tails_trimmed_total', 'Dead inboxes whose unread tail had lost entries to the inbox MAXLEN before the adoption read it', () => cluster.adoptionStats.tailsTrimmed);
      plain('nestmq_cluster_returned_cuts_missing_total', 'Returned clients of dead nodes whose cut was not found (nothing forwarded to them)', () => cluster.adoptionStats.cutsMissing);
      plain('nestmq_cluster_forwarded_queued_total', 'Forwarded dead-inbox messages queued here for returned clients', () => cluster.stats.forwardedQueued);
      plain('nestmq_cluster_forwarded_dropped_total', 'Forwarded dead-inbox messages dropped here (session gone or taken again)', () => cluster.stats.forwardedDropped);
      plain('nestmq_cluster_adoption_waits_total', 'CONNECT retries while a survivor was adopting the client\'s session (25 ms doubling up to 1 s between asks, 5 s at most)', () => cluster.stats.adoptionWaits);
      plain('nestmq_cluster_takeover_forwarded_total', 'Messages of session writes refused after a takeover (the client went on elsewhere) forwarded to its new node', () => cluster.stats.fencedForwarded);
      plain('nestmq_cluster_takeover_forwards_lost_total', 'Messages of refused session writes that could not be forwarded (session gone, Redis away)', () => cluster.stats.fencedForwardsLost);
      plain('nestmq_cluster_cuts_recorded_total', 'Cuts recorded for clients whose session came here from another node (one lease field per node left)', () => cluster.stats.cutsRecorded);
      plain('nestmq_cluster_route_marks_total', 'Cut markers this node wrote to the route log (one per event-loop turn with moved clients)', () => engine.routes.stats.marks);
      plain('nestmq_cluster_stale_sessions_dropped_total', 'Session copies dropped here after their client went on on another node (retired)', () => cluster.stats.staleSessionsDropped);
      plain('nestmq_cluster_cut_failures_total', 'Cuts of clients whose session came from another node that could not be recorded', () => cluster.stats.cutFailures);
    }
    // The admin server's own limits (admin.max-connections, admin.headers-timeout / request-timeout).
    const adapter = adapterHost?.httpAdapter;
    const http = adapter instanceof AdminExpressAdapter ? adapter.httpStats : new AdminHttpStats();
    new Counter({
      name: 'nestmq_admin_connections_closed_total',
      help: 'Admin HTTP connections closed by a limit, by reason',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        this.inc({ reason: 'max_connections' }, http.connectionsRefused);
        this.inc({ reason: 'request_timeout' }, http.requestsTimedOut);
      },
    });
    // The live message tracers (admin.max-tracers; each stream's bounded buffer).
    new Counter({
      name: 'nestmq_admin_tracers_refused_total',
      help: 'Tracer streams refused at admin.max-tracers',
      registers,
      collect() {
        this.reset();
        this.inc(http.tracersRefused);
      },
    });
    new Counter({
      name: 'nestmq_admin_tracer_messages_dropped_total',
      help: 'Traced messages dropped because a tracer read too slowly',
      registers,
      collect() {
        this.reset();
        this.inc(http.tracerMessagesDropped);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
