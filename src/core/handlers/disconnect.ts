import type { Engine } from '../engine';
import type { Connection } from '../connection/connection';
import type { EmptyPacket } from '../protocol/packets';
import { ProtocolError } from '../protocol/errors';
import { CloseReason, ReasonCode } from '../protocol/reason-codes';

/**
 * [MQTT-3.14.4-3] discard the Will without publishing it; [MQTT-3.14.4-2] act on nothing sent
 * after DISCONNECT; [unnumbered §3.14.4] close the connection if the client has not.
 *
 * MQTT 5: only Reason Code 0x00 discards the Will; any other (0x04 Disconnect with Will Message,
 * 0x80...) leaves it in force and it is published as on any other close v5 [MQTT-3.14.4-3]. A
 * Session Expiry Interval replaces CONNECT's, but not from 0 to non-zero: a Protocol Error
 * [v5 unnumbered §3.14.2.2.2] (DISCONNECT 0x82, and the Will is published).
 */
export function handleDisconnect(engine: Engine, conn: Connection, packet: EmptyPacket): void {
  const v5 = conn.v5;
  if (v5 !== null) {
    const interval = packet.properties?.sessionExpiryInterval;
    if (interval !== undefined) {
      if (v5.requestedSessionExpiryInterval === 0 && interval !== 0) {
        throw new ProtocolError('DISCONNECT sets a Session Expiry Interval after CONNECT had 0', undefined, ReasonCode.ProtocolError);
      }
      const cap = engine.limits.sessionExpiry;
      v5.sessionExpiryInterval = cap > 0 && interval > cap ? cap : interval;
      const session = conn.session;
      if (session !== null) session.expiryInterval = v5.sessionExpiryInterval === 0xffffffff ? 0 : v5.sessionExpiryInterval;
    }
    if (packet.reasonCode !== undefined && packet.reasonCode !== ReasonCode.Success) return conn.close(CloseReason.Disconnect);
  }
  conn.will = null;
  conn.close(CloseReason.Disconnect);
}
