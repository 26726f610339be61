import type { Engine } from '../engine';
import type { Connection } from '../connection/connection';
import { PINGRESP } from '../protocol/encoder';

/** [MQTT-3.12.4-1] every PINGREQ gets a PINGRESP. */
export function handlePingreq(engine: Engine, conn: Connection): void {
  conn.send(PINGRESP);
}
