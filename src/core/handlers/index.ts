import { Connection, ConnectionState } from '../connection/connection';
import type { PacketDispatcher } from '../connection/host';
import type { Engine } from '../engine';
import { CloseReason, isReasonCodeAllowed } from '../protocol/reason-codes';
import { connackWithReason } from '../connection/reason-strings';
import { PacketTooLargeError, ProtocolError } from '../protocol/errors';
import { TopicLimitError } from '../topics/topic-limits';
import { PacketType, type Packet } from '../protocol/packets';
import { handleAuth, handleBeforeConnack } from './auth';
import { handleConnect, scheduleAuthentication } from './connect';
import { handleDisconnect } from './disconnect';
import { handlePingreq } from './pingreq';
import { handlePuback, handlePubcomp, handlePubrec } from './acks';
import { handlePublish } from './publish';
import { handlePubrel } from './pubrel';
import { handleSubscribe } from './subscribe';
import { handleUnsubscribe } from './unsubscribe';

/**
 * The one dispatch: enforces "CONNECT first, CONNECT once", switches on the packet type, and is
 * the only place that turns an error into an action (closing the connection). Handlers never
 * destroy sockets themselves; they throw ProtocolError or call conn.close() for refusals that
 * the spec answers with a CONNACK first.
 */
export function handlePacket(engine: Engine, conn: Connection, packet: Packet): void {
  try {
    if (conn.state !== ConnectionState.CONNECTED) {
      if (conn.state === ConnectionState.AWAIT_CONNECT) {
        // [MQTT-3.1.0-1] the first packet must be CONNECT; anything else closes without acting on it.
        if (packet.type !== PacketType.CONNECT) throw new ProtocolError('first packet is not CONNECT', 'MQTT-3.1.0-1');
        handleConnect(engine, conn, packet);
        return;
      }
      // AUTHENTICATING and reading: only an MQTT 5 enhanced authentication waits for the client.
      if (packet.type !== PacketType.AUTH) return handleBeforeConnack(engine, conn, packet.type);
    }
    switch (packet.type) {
      case PacketType.PUBLISH:
        handlePublish(engine, conn, packet);
        return;
      case PacketType.PUBACK:
        handlePuback(engine, conn, packet);
        return;
      case PacketType.PUBREC:
        handlePubrec(engine, conn, packet);
        return;
      case PacketType.PUBREL:
        handlePubrel(engine, conn, packet);
        return;
      case PacketType.PUBCOMP:
        handlePubcomp(engine, conn, packet);
        return;
      case PacketType.SUBSCRIBE:
        handleSubscribe(engine, conn, packet);
        return;
      case PacketType.UNSUBSCRIBE:
        handleUnsubscribe(engine, conn, packet);
        return;
      case PacketType.PINGREQ:
        handlePingreq(engine, conn);
        return;
      case PacketType.DISCONNECT:
        handleDisconnect(engine, conn, packet);
        return;
      case PacketType.CONNECT:
        // [MQTT-3.1.0-2] a second CONNECT is a protocol violation; in 5.0 a Protocol Error,
        // answered DISCONNECT 0x82 v5 [MQTT-3.1.0-2].
        throw new ProtocolError('second CONNECT on a connection', 'MQTT-3.1.0-2', 0x82);
      case PacketType.AUTH:
        // MQTT 5 only (decoded on level 5 connections).
        handleAuth(engine, conn, packet);
        return;
      case PacketType.CONNACK:
      case PacketType.SUBACK:
      case PacketType.UNSUBACK:
      case PacketType.PINGRESP:
        // [unnumbered §2.2.1] server-to-client packets from a client are violations.
        throw new ProtocolError(`packet type ${packet.type} is sent by servers only`);
      default: {
        const never: never = packet;
        throw new ProtocolError(`unknown packet ${(never as Packet).type}`);
      }
    }
  } catch (err) {
    handleFailure(engine, conn, err);
  }
}

/**
 * [MQTT-4.8.0-1] a protocol violation closes the connection that carried it (the Will fires);
 * [MQTT-4.8.0-2] so does an unexpected failure while handling a packet, and nobody else is hurt.
 */
export function handleFailure(engine: Engine, conn: Connection, err: unknown): void {
  const stats = engine.stats;
  stats.protocolErrors++;
  if (err instanceof PacketTooLargeError) {
    if (err.firstPacket) stats.closedConnectTooLarge++;
    else stats.closedPacketTooLarge++;
  }
  else if (err instanceof TopicLimitError) stats.closedTopicLimit++;
  if (!(err instanceof ProtocolError)) {
    engine.events.emit('warning', err instanceof Error ? err : new Error(String(err)));
  }
  if (conn.protocolLevel === 5 && err instanceof ProtocolError) {
    // v5 [MQTT-4.13.1-1] the Reason Code that names the fault: in CONNACK before the connection is
    // accepted (when CONNACK may carry it), in DISCONNECT after (Connection.close sends it).
    const code = err.reasonCode;
    if (conn.state !== ConnectionState.CONNECTED) {
      if (conn.state !== ConnectionState.CLOSED && isReasonCodeAllowed(PacketType.CONNACK, code)) {
        stats.reasonCodesSent.connack[code]++;
        conn.send(connackWithReason(conn.v5, code, err.message));
      }
      return conn.close(CloseReason.ProtocolError);
    }
    // The error's message is the Reason String (bounded, and only where the client takes one).
    if (isReasonCodeAllowed(PacketType.DISCONNECT, code)) return conn.close(CloseReason.ProtocolError, code, err.message);
  }
  conn.close(CloseReason.ProtocolError);
}

/**
 * The packet dispatch of one engine, injected into its connections (ConnectionHost.dispatcher):
 * connections reach the handlers only through it, so connection/ imports nothing of handlers/.
 */
class Dispatcher implements PacketDispatcher<Connection> {
  constructor(private readonly engine: Engine) {}

  handlePacket(conn: Connection, packet: Packet): void {
    handlePacket(this.engine, conn, packet);
  }

  handleFailure(conn: Connection, err: unknown): void {
    handleFailure(this.engine, conn, err);
  }

  authenticationTurn(conn: Connection): void {
    scheduleAuthentication(this.engine, conn);
  }
}

/** What Broker passes as EngineOptions.dispatcher. */
export function createDispatcher(engine: Engine): PacketDispatcher<Connection> {
  return new Dispatcher(engine);
}
