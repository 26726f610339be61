import { isValidUtf8 } from '../protocol/utf8';
import type { Engine } from '../engine';
import { type Connection, ConnectionState, Pause } from '../connection/connection';
import type { ClientV5Settings } from '../connection/link';
import { connackWithReason, reasonStringFor } from '../connection/reason-strings';
import { clientInfo } from '../hooks/types';
import type { AuthOutcome } from '../hooks/registry';
import { isThenable } from '../hooks/registry';
import { Admission } from '../auth/auth-gate';
import { encodeConnackFor } from '../protocol/encoder';
import { encodeConnackV5 } from '../protocol/encoder-v5';
import type { ConnectPacket, Properties } from '../protocol/packets';
import { CloseReason, connackReasonCode, ReasonCode } from '../protocol/reason-codes';
import { isValidTopicName } from '../topics/topic-validation';
import { ProtocolError } from '../protocol/errors';
import { exceedsTopicLimits, TopicLimitError } from '../topics/topic-limits';
import { runEnhancedStep, startConnectExchange } from './auth';

/**
 * Refuse with a CONNACK, then close [MQTT-3.2.2-4/5]: Session Present is 0. The Reason Code is
 * the close reason's (connackReasonCode) unless a plugin chose one; a 3.1.1 client gets the
 * return code it folds into, or no CONNACK where 3.1.1 has none.
 */
function refuse(conn: Connection, reason: CloseReason, code: ReasonCode = connackReasonCode(reason)!): void {
  if (conn.v5 !== null) {
    // With a Reason String saying why, where the client takes one (connection/reason-strings.ts).
    conn.host.stats.reasonCodesSent.connack[code]++;
    conn.send(connackWithReason(conn.v5, code, reasonStringFor(reason)));
  } else sendConnack(conn, false, code, conn.protocolLevel);
  conn.close(reason);
}

/** Queue the CONNACK for `code` at `protocolLevel`, counted by Reason Code; none when it has no 3.1.1 form. */
function sendConnack(conn: Connection, sessionPresent: boolean, code: ReasonCode, protocolLevel: number): void {
  const connack = encodeConnackFor(sessionPresent, code, protocolLevel);
  if (connack === null) return;
  conn.host.stats.reasonCodesSent.connack[code]++;
  conn.send(connack);
}

/**
 * CONNECT. The parser has already enforced the wire rules of section 3.1 (flags, field presence,
 * UTF-8, Will topic) so a malformed CONNECT never reaches here and gets no CONNACK [MQTT-3.1.4-1].
 */
export function handleConnect(engine: Engine, conn: Connection, packet: ConnectPacket): void {
  const limits = engine.limits;
  conn.protocolLevel = packet.protocolLevel;
  // [MQTT-3.1.2-2] unsupported level ("MQTT" other than 4, "MQIsdp" other than 3): CONNACK 0x01.
  const supported =
    (packet.protocolName === 'MQTT' && (packet.protocolLevel === 4 || packet.protocolLevel === 5)) ||
    (packet.protocolName === 'MQIsdp' && packet.protocolLevel === 3);
  if (!supported) {
    // In 3.1.1's form whatever level was asked: the client's own level may be one we cannot speak.
    sendConnack(conn, false, ReasonCode.UnsupportedProtocolVersion, 4);
    return conn.close(CloseReason.ProtocolVersion);
  }

  if (packet.will !== null && (!isValidTopicName(packet.will.topic) || exceedsTopicLimits(limits, packet.will.topic))) {
    // [MQTT-4.7.1-1, MQTT-3.1.3-10] a Will Topic must be a valid topic name: close without CONNACK.
    if (!isValidTopicName(packet.will.topic)) throw new ProtocolError('invalid Will Topic', 'MQTT-4.7.1-1');
    throw new TopicLimitError('Will Topic exceeds the configured topic limits');
  }

  let clientId = packet.clientId;
  if (packet.protocolLevel === 5) conn.v5 = v5Settings(engine, packet);
  // v5 [unnumbered §3.1.3.2.3] a Will Payload Format Indicator 1 with a payload that is not UTF-8:
  // CONNACK 0x99, as a PUBLISH gets PUBACK 0x99 (docs/conformance-v5.md choice V7).
  const will = packet.will;
  if (conn.v5 !== null && will !== null && will.properties?.payloadFormatIndicator === 1 && !isValidUtf8(will.payload, 0, will.payload.length)) {
    engine.stats.droppedPayloadFormat++;
    return refuse(conn, CloseReason.ProtocolError, ReasonCode.PayloadFormatInvalid);
  }
  if (clientId.length === 0 && packet.protocolLevel === 5) {
    // v5 [MQTT-3.1.3-6] an empty id is assigned one whatever Clean Start says; the client learns
    // it from CONNACK's Assigned Client Identifier v5 [MQTT-3.2.2-16].
    clientId = engine.assignClientId();
    conn.assignedClientId = true;
  } else if (clientId.length === 0) {
    // [MQTT-3.1.3-8] empty id with CleanSession=0: identifier rejected.
    if (!packet.cleanSession) return refuse(conn, CloseReason.IdentifierRejected);
    // [MQTT-3.1.2-1] MQIsdp is handled as MQTT 3.1, never as 3.1.1: 3.1 has no empty client ids.
    if (packet.protocolLevel === 3) return refuse(conn, CloseReason.IdentifierRejected);
    // [MQTT-3.1.3-6] assign a unique id and carry on as if the client had sent it.
    clientId = engine.assignClientId();
  } else if (Buffer.byteLength(clientId) > limits.maxClientIdLength) {
    // [MQTT-3.1.3-9] ids over the configured length are refused (ids of 1-23 alphanumerics always pass [MQTT-3.1.3-5]).
    engine.stats.refusedClientIdLength++;
    return refuse(conn, CloseReason.IdentifierRejected);
  }
  conn.clientId = clientId;
  // For MQTT 5 this is Clean Start (discard a stored session); whether the session outlives the
  // connection is its Session Expiry Interval's (conn.v5.sessionExpiryInterval).
  conn.cleanSession = packet.cleanSession;
  // v5 [MQTT-3.1.2-21] [MQTT-3.2.2-21] the Keep Alive in force is the server's when it sends
  // Server Keep Alive (limits.max-keepalive); 3.1/3.1.1 clients cannot be told and keep theirs.
  conn.keepalive = conn.v5 !== null ? keepaliveInForce(limits.maxKeepalive, packet.keepalive) : packet.keepalive;
  conn.username = packet.username;
  conn.will = packet.will;
  conn.beginAuthentication();

  // MQTT 5 enhanced authentication (handlers/auth.ts). Authentication Data without a method never
  // gets here: the codec refuses it [unnumbered §3.1.2.11.10].
  if (packet.properties?.authenticationMethod !== undefined) return startConnectExchange(engine, conn, packet, completeConnect);

  if (conn.identityIsUsername) {
    // use-identity-as-username: the verified certificate is the credential and its CN the
    // username (as Mosquitto's use_identity_as_username); without one the client is refused.
    if (conn.certificateCommonName === null) return refuse(conn, CloseReason.NotAuthorized);
    return completeConnect(engine, conn, { reasonCode: ReasonCode.Success, username: conn.certificateCommonName });
  }
  if (!engine.hooks.hasAuthenticators) return completeConnect(engine, conn, engine.hooks.withoutPlugins(packet.username));
  if (engine.hooks.authenticationIsCheap) {
    // Only plugins that answer at once without costly work (auth.anonymous): nothing for a login
    // storm to exhaust, so no AuthGate bounds (a reconnect storm of anonymous clients from one
    // NAT address must not be refused 0x03).
    conn.authPassword = packet.password;
    conn.authProperties = packet.properties ?? null;
    conn.pause(Pause.AUTH);
    return startAuthentication(engine, conn);
  }
  // Verifications are bounded (login storms): see auth/auth-gate.ts.
  switch (engine.authGate.admit(conn)) {
    case Admission.BLOCKED:
      engine.stats.refusedAuthFailures++;
      return refuse(conn, CloseReason.AuthFailures);
    case Admission.BUSY:
      engine.stats.refusedAuthBusy++;
      return refuse(conn, CloseReason.AuthBusy);
    case Admission.QUEUED:
      // [MQTT-3.1.4-5] nothing else the client sent is acted on until the verdict is in. Its
      // CONNECT came in time: waiting for a verdict (bcrypt behind a reconnect storm) is ours,
      // so connect-timeout gives way to AUTH_TIMEOUT_S (a plugin that never answers).
      conn.authPassword = packet.password;
    conn.authProperties = packet.properties ?? null;
      conn.pause(Pause.AUTH);
      conn.startAuthTimeout();
      return;
    case Admission.RUN:
      conn.authPassword = packet.password;
    conn.authProperties = packet.properties ?? null;
      conn.pause(Pause.AUTH);
      conn.startAuthTimeout();
      return scheduleAuthentication(engine, conn);
  }
}

/**
 * Starts a verification the AuthGate gave a slot to two loop turns later, not now: libuv reads
 * a socket's end-of-stream on the poll after its data, so a client that sent its CONNECT and
 * closed at once (a login storm) is seen closed by then and never costs a password hash.
 */
export function scheduleAuthentication(engine: Engine, conn: Connection): void {
  setImmediate(afterNextPoll, engine, conn);
}

function afterNextPoll(engine: Engine, conn: Connection): void {
  if (conn.state !== ConnectionState.AUTHENTICATING) return abandon(engine, conn);
  setImmediate(onAuthenticationTurn, engine, conn);
}

function onAuthenticationTurn(engine: Engine, conn: Connection): void {
  if (conn.state !== ConnectionState.AUTHENTICATING) return abandon(engine, conn);
  startAuthentication(engine, conn);
}

/** The client left before its verification started: the slot goes to the next in line. */
function abandon(engine: Engine, conn: Connection): void {
  engine.stats.authAbandoned++;
  engine.authGate.finished(conn);
}

/** Runs the authentication plugins for a CONNECT the AuthGate admitted (now, or from its queue). */
export function startAuthentication(engine: Engine, conn: Connection): void {
  // MQTT 5 enhanced authentication: this turn is for a step of its exchange (handlers/auth.ts).
  if (conn.enhancedAuth !== null) return runEnhancedStep(engine, conn);
  const password = conn.authPassword;
  conn.authPassword = null;
  // MQTT 5: plugins see the CONNECT's properties.
  const properties = conn.authProperties ?? undefined;
  conn.authProperties = null;
  const outcome = engine.hooks.authenticate({
    ...clientInfo(conn),
    password,
    certificateCommonName: conn.certificateCommonName ?? undefined,
    protocolLevel: conn.protocolLevel,
    properties,
  });
  if (!isThenable(outcome)) {
    engine.authGate.finished(conn);
    verdict(engine, conn, outcome);
    conn.resume(Pause.AUTH);
    return;
  }
  outcome.then(
    (o) => {
      engine.authGate.finished(conn);
      if (conn.state !== ConnectionState.AUTHENTICATING) return; // closed meanwhile: nobody learns the answer
      verdict(engine, conn, o);
      conn.resume(Pause.AUTH);
    },
    () => {
      engine.authGate.finished(conn);
      if (conn.state === ConnectionState.AUTHENTICATING) refuse(conn, CloseReason.AuthError);
    },
  );
}

/** The plugins' answer reaches the client: a refusal counts towards its address's failure limit. */
function verdict(engine: Engine, conn: Connection, outcome: AuthOutcome): void {
  if (outcome.reasonCode !== ReasonCode.Success) {
    engine.authGate.failed(conn.peerHost);
    if (isCredentialRefusal(outcome.reasonCode)) engine.stats.authFailures++;
  }
  completeConnect(engine, conn, outcome);
}

/**
 * A throw after an asynchronous verdict (an embedder's listener, the store) has no handlePacket
 * around it: the connection would stay paused on AUTH forever and the rejection go unhandled.
 * Closed as handleFailure closes a connection whose packet failed [MQTT-4.8.0-2], with a
 * `warning`. (Not handleFailure itself: handlers/index imports the handlers, an import cycle.)
 */
export function failAfterVerdict(engine: Engine, conn: Connection, err: unknown): void {
  engine.stats.protocolErrors++;
  conn.close(CloseReason.ProtocolError);
  engine.events.emit('warning', err instanceof Error ? err : new Error(String(err)));
}

/** A refusal of the client's credentials or rights (3.1.1: 0x04 or 0x05), not of the server's state. */
function isCredentialRefusal(code: ReasonCode): boolean {
  return (
    code === ReasonCode.BadUserNameOrPassword ||
    code === ReasonCode.NotAuthorized ||
    code === ReasonCode.Banned ||
    code === ReasonCode.BadAuthenticationMethod
  );
}

function completeConnect(engine: Engine, conn: Connection, outcome: AuthOutcome): void {
  if (outcome.reasonCode !== ReasonCode.Success) {
    // [unnumbered §3.1.4 step 3] CONNACK 0x04/0x05 (or the plugin's Reason Code), then close;
    // the Will is not published for a connection that was never accepted.
    conn.will = null;
    const reason = outcome.reasonCode === ReasonCode.BadUserNameOrPassword ? CloseReason.BadCredentials : CloseReason.NotAuthorized;
    return refuse(conn, reason, outcome.reasonCode);
  }
  // The session must be in memory before it is claimed: a store that fetches it (Redis) answers
  // with a promise, and, as for authentication, nothing the client sent after CONNECT is acted
  // on until it is in [MQTT-3.1.4-5]. The memory and SQLite stores answer at once.
  const loaded = engine.loadSession(conn.clientId, conn, outcome.username);
  if (!isThenable(loaded)) return acceptConnect(engine, conn, outcome.username, outcome);
  conn.pause(Pause.SESSION);
  loaded.then(
    () => {
      if (conn.state !== ConnectionState.AUTHENTICATING) return; // gone meanwhile: nothing to undo
      try {
        acceptConnect(engine, conn, outcome.username, outcome);
      } catch (err) {
        return failAfterVerdict(engine, conn, err);
      }
      conn.resume(Pause.SESSION);
    },
    (err: unknown) => {
      if (conn.state !== ConnectionState.AUTHENTICATING) return;
      // The store cannot tell whether this client has a session: "server unavailable", retry later.
      conn.will = null;
      refuse(conn, CloseReason.StoreFailure, ReasonCode.ServerUnavailable);
      engine.events.emit('warning', err instanceof Error ? err : new Error(String(err)));
    },
  );
}

/** CONNECT authenticated and its session (if any) in memory: claim it, attach it, CONNACK. */
function acceptConnect(engine: Engine, conn: Connection, username: string | null, outcome: AuthOutcome): void {
  if (!engine.mayClaimSession(conn.clientId, username, conn)) {
    // A session belongs to the username that created it: another user presenting its client id
    // would take over its in-flight and queued messages (and kick its live client), so the
    // newcomer is refused and the session, live or not, is left alone. See docs/auth.md.
    engine.stats.refusedSessionOwner++;
    conn.will = null;
    return refuse(conn, CloseReason.SessionOwner);
  }
  conn.username = username;
  if (!engine.admitsSession(conn)) {
    // A new session beyond max-sessions / max-sessions-per-user: "server unavailable" (the
    // client may retry later, or resume a session it has); never accepted, so no Will.
    conn.will = null;
    return refuse(conn, CloseReason.SessionLimit);
  }
  conn.markConnected();
  conn.connectedAt = Date.now();
  const { session, present } = engine.attachSession(conn);
  // [MQTT-3.2.0-1] CONNACK is the first packet we send, before any queued or retained message;
  // [MQTT-3.2.2-1/2/3] Session Present; [MQTT-3.1.4-4] return code 0.
  if (conn.v5 !== null) {
    // v5 [MQTT-3.2.2-2/3] Session Present as in 3.1.1 (0 after Clean Start 1).
    conn.host.stats.reasonCodesSent.connack[ReasonCode.Success]++;
    const props = connackProperties(engine, conn, outcome);
    let connack = encodeConnackV5(present, ReasonCode.Success, props);
    // v5 [MQTT-3.2.2-20] User Properties (a plugin's) that would take the CONNACK past the client's
    // Maximum Packet Size are left out; everything else on a success CONNACK is small and needed.
    if (props.userProperties !== undefined && conn.v5.maximumPacketSize !== 0 && connack.length > conn.v5.maximumPacketSize) {
      props.userProperties = undefined;
      connack = encodeConnackV5(present, ReasonCode.Success, props);
    }
    conn.send(connack);
  } else sendConnack(conn, present && conn.protocolLevel === 4, ReasonCode.Success, conn.protocolLevel); // [MQTT-3.1.2-1] 3.1 CONNACK has no Session Present
  conn.startKeepalive(conn.keepalive);
  if (engine.events.listenerCount('clientConnected') > 0) engine.events.emit('clientConnected', {
    ...clientInfo(conn),
    cleanSession: conn.cleanSession,
    sessionPresent: present,
    keepalive: conn.keepalive,
    protocolLevel: conn.protocolLevel,
  });
  if (present) engine.resumeSession(session, conn);
}

/** ClientV5Settings from a level 5 CONNECT's properties, with the spec's defaults. */
function v5Settings(engine: Engine, packet: ConnectPacket): ClientV5Settings {
  const p = packet.properties;
  const requested = p?.sessionExpiryInterval ?? 0; // v5 [MQTT-3.1.2-23] absent: 0, ends with the connection
  return {
    receiveMaximum: p?.receiveMaximum ?? 65535, // v5 §3.1.2.11.3 absent: 65535
    maximumPacketSize: p?.maximumPacketSize ?? 0,
    topicAliasMaximum: p?.topicAliasMaximum ?? 0, // v5 §3.1.2.11.5 absent: 0, no outbound aliases
    requestProblemInformation: (p?.requestProblemInformation ?? 1) === 1,
    requestResponseInformation: (p?.requestResponseInformation ?? 0) === 1,
    serverReceiveMaximum: serverReceiveMaximum(engine),
    serverTopicAliasMaximum: engine.limits.maxTopicAlias,
    cleanStart: packet.cleanSession,
    sessionExpiryInterval: grantedSessionExpiry(engine, requested),
    requestedSessionExpiryInterval: requested,
    inboundAliases: null,
    outboundAliases: null,
    inboundUnacked: 0,
    inboundQos2: null,
    deferredResends: false,
  };
}

/**
 * The Keep Alive a v5 client gets (seconds): its own, unless a maximum is configured and the
 * client asked for more or for none (0: never checked), then the maximum.
 */
function keepaliveInForce(max: number, requested: number): number {
  return max > 0 && (requested === 0 || requested > max) ? max : requested;
}

/** The Receive Maximum we announce: the in-flight window we keep for sessions, at most 65535. */
function serverReceiveMaximum(engine: Engine): number {
  const n = engine.limits.maxInflightMessages;
  return n > 0 && n < 65535 ? n : 65535;
}

/**
 * The Session Expiry Interval we grant: the client's, capped by limits.session-expiry (0: no cap);
 * 0xFFFFFFFF (never) is capped too when a cap is set. The client is told when it differs.
 */
function grantedSessionExpiry(engine: Engine, requested: number): number {
  const cap = engine.limits.sessionExpiry;
  return cap > 0 && requested > cap ? cap : requested;
}

/** CONNACK properties: what the server supports and granted (section 3.2.2.3). */
function connackProperties(engine: Engine, conn: Connection, outcome: AuthOutcome): Properties {
  const v5 = conn.v5!;
  const props: Properties = {
    receiveMaximum: v5.serverReceiveMaximum,
    retainAvailable: 1,
    wildcardSubscriptionAvailable: 1,
    subscriptionIdentifierAvailable: 1, // kept per subscription, sent with each matching delivery
    sharedSubscriptionAvailable: 1,
    // Maximum QoS absent: 2.
  };
  // Topic Alias Maximum: limits.max-topic-alias (absent when 0: no inbound aliases v5 [MQTT-3.2.2-18]).
  if (v5.serverTopicAliasMaximum > 0) props.topicAliasMaximum = v5.serverTopicAliasMaximum;
  const maxPacket = engine.limits.maxPacketSize;
  if (maxPacket > 0 && maxPacket < 268_435_460) props.maximumPacketSize = maxPacket;
  // v5 [MQTT-3.2.2-16] an id we assigned is returned to the client.
  if (conn.assignedClientId) props.assignedClientIdentifier = conn.clientId;
  // v5 §3.2.2.3.2 the interval we use, when it is not the one asked for.
  if (v5.sessionExpiryInterval !== v5.requestedSessionExpiryInterval) props.sessionExpiryInterval = v5.sessionExpiryInterval;
  // v5 [MQTT-4.12.0-5] an enhanced authentication's method (and final data) on the success CONNACK;
  // v5 [MQTT-4.12.0-6] none without one. User Properties a plugin added.
  if (outcome.authenticationMethod !== undefined) props.authenticationMethod = outcome.authenticationMethod;
  if (outcome.authenticationData !== undefined) props.authenticationData = outcome.authenticationData;
  if (outcome.userProperties !== undefined) props.userProperties = outcome.userProperties;
  // v5 [MQTT-3.1.2-21] [MQTT-3.2.2-21] with a maximum configured, the Keep Alive in force is always
  // told (the client's own when within it): the client uses it, we police it v5 [MQTT-3.1.2-22].
  // Without a maximum none is sent and the client's own applies v5 [MQTT-3.2.2-22].
  if (engine.limits.maxKeepalive > 0) props.serverKeepAlive = conn.keepalive;
  // v5 [MQTT-3.1.2-28] Response Information only when asked for, and only when configured:
  // the prefix plus the client id, a topic space of its own for responses (docs/mqtt5.md).
  const prefix = engine.config.responseInformation;
  if (v5.requestResponseInformation && prefix.length > 0) props.responseInformation = prefix + conn.clientId;
  return props;
}
