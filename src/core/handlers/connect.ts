import { type Connection, ConnectionState, Pause } from '../connection/connection';
import { clientInfo } from '../engine';
import type { AuthOutcome } from '../hooks/registry';
import { isThenable } from '../hooks/registry';
import { encodeConnack } from '../protocol/encoder';
import { ConnackCode, type ConnectPacket } from '../protocol/packets';
import { isValidTopicName } from '../topics/topic-validation';
import { ProtocolError } from '../protocol/errors';

/** Refuse with a CONNACK return code, then close [MQTT-3.2.2-4/5]: Session Present is 0. */
function refuse(conn: Connection, code: number, reason: string): void {
  conn.send(encodeConnack(false, code));
  conn.close(reason);
}

/**
 * CONNECT. The parser has already enforced the wire rules of section 3.1 (flags, field presence,
 * UTF-8, Will topic) so a malformed CONNECT never reaches here and gets no CONNACK [MQTT-3.1.4-1].
 */
export function handleConnect(conn: Connection, packet: ConnectPacket): void {
  const engine = conn.engine;
  const limits = engine.limits;
  conn.protocolLevel = packet.protocolLevel;
  // [MQTT-3.1.2-2] unsupported level ("MQTT" other than 4, "MQIsdp" other than 3): CONNACK 0x01.
  const supported =
    (packet.protocolName === 'MQTT' && packet.protocolLevel === 4) ||
    (packet.protocolName === 'MQIsdp' && packet.protocolLevel === 3);
  if (!supported) return refuse(conn, ConnackCode.UNACCEPTABLE_PROTOCOL_VERSION, 'protocol-version');

  if (packet.will !== null && (!isValidTopicName(packet.will.topic) || exceedsTopicLimits(conn, packet.will.topic))) {
    // [MQTT-4.7.1-1, MQTT-3.1.3-10] a Will Topic must be a valid topic name: close without CONNACK.
    if (!isValidTopicName(packet.will.topic)) throw new ProtocolError('invalid Will Topic', 'MQTT-4.7.1-1');
    throw new TopicLimitError('Will Topic exceeds the configured topic limits');
  }

  let clientId = packet.clientId;
  if (clientId.length === 0) {
    // [MQTT-3.1.3-8] empty id with CleanSession=0: identifier rejected.
    if (!packet.cleanSession) return refuse(conn, ConnackCode.IDENTIFIER_REJECTED, 'identifier-rejected');
    // [MQTT-3.1.2-1] MQIsdp is handled as MQTT 3.1, never as 3.1.1: 3.1 has no empty client ids.
    if (packet.protocolLevel === 3) return refuse(conn, ConnackCode.IDENTIFIER_REJECTED, 'identifier-rejected');
    // [MQTT-3.1.3-6] assign a unique id and carry on as if the client had sent it.
    clientId = engine.assignClientId();
  } else if (Buffer.byteLength(clientId) > limits.maxClientIdLength) {
    // [MQTT-3.1.3-9] ids over the configured length are refused (ids of 1-23 alphanumerics always pass [MQTT-3.1.3-5]).
    engine.stats.refusedClientIdLength++;
    return refuse(conn, ConnackCode.IDENTIFIER_REJECTED, 'identifier-rejected');
  }
  conn.clientId = clientId;
  conn.cleanSession = packet.cleanSession;
  conn.keepalive = packet.keepalive;
  conn.username = packet.username;
  conn.will = packet.will;
  conn.state = ConnectionState.AUTHENTICATING;

  const hooks = engine.hooks;
  if (conn.identityIsUsername) {
    // use-identity-as-username: the verified certificate is the credential and its CN the
    // username (as Mosquitto's use_identity_as_username); without one the client is refused.
    if (conn.certificateCommonName === null) return refuse(conn, ConnackCode.NOT_AUTHORIZED, 'not-authorized');
    return completeConnect(conn, { returnCode: 0, username: conn.certificateCommonName });
  }
  const outcome = hooks.hasAuthenticators
    ? hooks.authenticate({ ...clientInfo(conn), password: packet.password, certificateCommonName: conn.certificateCommonName ?? undefined })
    : hooks.withoutPlugins(packet.username);
  if (isThenable(outcome)) {
    // [MQTT-3.1.4-5] nothing else the client sent is acted on until the verdict is in.
    conn.pause(Pause.AUTH);
    // The client did send its CONNECT in time: waiting for a verdict (bcrypt behind a reconnect
    // storm) is ours, not its delay, so connect-timeout no longer applies; a plugin that never
    // answers is cut off after AUTH_TIMEOUT_S.
    conn.startAuthTimeout();
    outcome.then(
      (o) => {
        if (conn.state !== ConnectionState.AUTHENTICATING) return; // closed meanwhile
        completeConnect(conn, o);
        conn.resume(Pause.AUTH);
      },
      () => {
        if (conn.state === ConnectionState.AUTHENTICATING) refuse(conn, ConnackCode.NOT_AUTHORIZED, 'auth-error');
      },
    );
    return;
  }
  completeConnect(conn, outcome);
}

function exceedsTopicLimits(conn: Connection, topic: string): boolean {
  const limits = conn.engine.limits;
  // A UTF-16 unit takes 1-3 UTF-8 bytes: only long strings need the exact byte count.
  if (topic.length * 3 > limits.maxTopicLength && Buffer.byteLength(topic) > limits.maxTopicLength) return true;
  // n characters hold at most n + 1 levels: short topics need no count.
  if (topic.length < limits.maxTopicLevels) return false;
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++;
  return levels > limits.maxTopicLevels;
}

export { exceedsTopicLimits };

/** A PUBLISH or Will topic beyond max-topic-length / max-topic-levels: the connection closes. */
export class TopicLimitError extends ProtocolError {}

function completeConnect(conn: Connection, outcome: AuthOutcome): void {
  if (outcome.returnCode !== 0) {
    // [unnumbered §3.1.4 step 3] CONNACK 0x04/0x05, then close; the Will is not published for a
    // connection that was never accepted.
    conn.will = null;
    return refuse(conn, outcome.returnCode, outcome.returnCode === 4 ? 'bad-credentials' : 'not-authorized');
  }
  const engine = conn.engine;
  conn.username = outcome.username;
  if (!engine.admitsSession(conn)) {
    // A new session beyond max-sessions / max-sessions-per-user: "server unavailable" (the
    // client may retry later, or resume a session it has); never accepted, so no Will.
    conn.will = null;
    return refuse(conn, ConnackCode.SERVER_UNAVAILABLE, 'session-limit');
  }
  conn.state = ConnectionState.CONNECTED;
  conn.connectedAt = Date.now();
  const { session, present } = engine.attachSession(conn);
  // [MQTT-3.2.0-1] CONNACK is the first packet we send, before any queued or retained message;
  // [MQTT-3.2.2-1/2/3] Session Present; [MQTT-3.1.4-4] return code 0.
  conn.send(encodeConnack(present && conn.protocolLevel === 4, ConnackCode.ACCEPTED)); // [MQTT-3.1.2-1] 3.1 CONNACK has no Session Present
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
