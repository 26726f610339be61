import type { Engine } from '../engine';
import type { Connection } from '../connection/connection';
import { CloseReason } from '../protocol/reason-codes';

/**
 * [MQTT-3.14.4-3] discard the Will without publishing it; [MQTT-3.14.4-2] act on nothing sent
 * after DISCONNECT; [unnumbered §3.14.4] close the connection if the client has not.
 */
export function handleDisconnect(engine: Engine, conn: Connection): void {
  conn.will = null;
  conn.close(CloseReason.Disconnect);
}
