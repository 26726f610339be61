/** Counters for stats, metrics and $SYS; plain numbers bumped on the packet path. */
export class BrokerStats {
  connectionsTotal = 0;
  connectionsRefused = 0;
  clientsMaximum = 0;
  messagesReceived = 0;
  messagesSent = 0;
  publishReceived = 0;
  publishSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** QoS 0 messages not written to a slow consumer. */
  droppedSlowConsumer = 0;
  /** Messages not queued because a session's queue was full. */
  droppedQueueFull = 0;
  /** Publishes refused by authorization (acknowledged and dropped). */
  droppedUnauthorized = 0;
  protocolErrors = 0;
  /** Connections closed because a packet's Remaining Length exceeded max-packet-size. */
  closedPacketTooLarge = 0;
  /** Connections closed because their first packet's Remaining Length exceeded max-connect-packet-size. */
  closedConnectTooLarge = 0;
  /** Sockets closed at accept because their peer address had max-connections-per-address open. */
  refusedAddressLimit = 0;
  /** Sockets closed for sending no CONNECT within connect-timeout. */
  closedConnectTimeout = 0;
  /** Clients closed for silence beyond their keepalive. */
  closedKeepalive = 0;
  /** Connections closed for a topic beyond max-topic-length / max-topic-levels. */
  closedTopicLimit = 0;
  /** Subscriptions refused (SUBACK 0x80) because the client reached max-subscriptions. */
  refusedSubscriptionLimit = 0;
  /** `$share/...` subscriptions refused (SUBACK 0x80) at max-shared-groups or max-shared-group-members. */
  refusedSharedLimit = 0;
  /** QoS 1 and queued messages of a share-group member that went away, handed to another member. */
  sharedRedispatched = 0;
  /** SUBSCRIBE filters beyond max-filters-per-subscribe (SUBACK 0x80; MQTT 5: 0x97). */
  refusedSubscribeFilters = 0;
  /** Retained messages not stored (PUBACK sent, delivered live) at a max-retained-* limit. */
  refusedRetainedQuota = 0;
  /** CONNECTs refused for a client id longer than max-client-id-length. */
  refusedClientIdLength = 0;
  /** Live clients closed because their queue reached twice max-queued-messages with nobody to pause. */
  closedQueueOverflow = 0;
  /** Wills held back at a close (MQTT 5 Will Delay Interval, or a takeover continuing the session). */
  willsDelayed = 0;
  /** Sessions removed after session-expiry. */
  sessionsExpired = 0;
  /** CONNECTs refused (0x05) for a client id whose session belongs to another username. */
  refusedSessionOwner = 0;
  /** CONNECTs refused (0x03) at max-pending-auth or max-pending-auth-per-address. */
  refusedAuthBusy = 0;
  /** CONNECTs refused (0x05) unverified: their address reached max-auth-failures-per-address. */
  refusedAuthFailures = 0;
  /** Queued verifications dropped unstarted because their socket closed. */
  authAbandoned = 0;
  /**
   * Publishers resumed because their pauses reached max-publisher-pause: from then on the
   * subscribers that held them back pay (queued within their limits, then disconnected).
   */
  publisherPauseExpired = 0;
  /** CONNECTs refused (CONNACK 0x03) because a new session would exceed max-sessions or max-sessions-per-user. */
  refusedSessionLimit = 0;
  /** CONNECTs the authentication plugins refused (CONNACK 0x04 or 0x05). */
  authFailures = 0;
  /** MQTT 5: CONNECTs refused (0x8C) for an Authentication Method no plugin serves. */
  refusedAuthMethod = 0;
  /** MQTT 5: enhanced authentication exchanges started at CONNECT. */
  enhancedAuthExchanges = 0;
  /** MQTT 5: re-authentications (AUTH 0x19) started. */
  reauthentications = 0;
  /** MQTT 5: exchanges refused (0x87) because the plugin asked for more than max-auth-steps steps. */
  refusedAuthSteps = 0;
  /** MQTT 5: connections closed (DISCONNECT 0x96) for re-authenticating beyond max-reauth-per-minute. */
  closedReauthRate = 0;
  /** PUBLISHes not sent to an MQTT 5 client because they exceed its Maximum Packet Size (discarded as if delivered). */
  droppedPacketTooLarge = 0;
  /** MQTT 5 clients disconnected (0x93) for more unacknowledged QoS 1/2 PUBLISHes than our Receive Maximum. */
  closedReceiveMaximum = 0;
  /** MQTT 5 PUBLISHes with Payload Format Indicator 1 and a payload that is not UTF-8 (PUBACK/PUBREC 0x99, not routed). */
  droppedPayloadFormat = 0;
  /** Retained messages removed because their Message Expiry Interval passed. */
  retainedExpired = 0;
  /**
   * Reason Codes sent, by packet, indexed by the MQTT 5 Reason Code: a 3.1.1 CONNACK counts
   * under the code its return code was folded from (e.g. a 0x03 for max-sessions under 0x97).
   * DISCONNECT is sent to MQTT 5 clients only.
   */
  readonly reasonCodesSent = new ReasonCodesSent();
  /** Connected clients by protocol level (index 3: MQTT 3.1, 4: 3.1.1, 5: 5.0): a gauge, not a counter. */
  readonly clientsByProtocolLevel = new Uint32Array(6);
}

/** Counts per Reason Code (one slot per byte value) of the packets the broker sends them in. */
export class ReasonCodesSent {
  readonly connack = new Uint32Array(256);
  readonly disconnect = new Uint32Array(256);
}
