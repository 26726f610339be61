import type { ClientLink } from '../connection/link';
import { CloseReason } from '../protocol/reason-codes';

/**
 * Who holds each client id now. [MQTT-3.1.4-2] one live connection per client id: a newcomer
 * takes over (the previous connection is closed first, its Will fires). LocalClientRegistry
 * knows this process's connections; a cluster implementation (over Redis) also knows the ids
 * held on other nodes and asks their owner to close the previous connection.
 */
export interface ClientRegistry {
  readonly size: number;
  /** The live connection of `clientId` on this node. */
  get(clientId: string): ClientLink | undefined;
  /** Close whatever else holds `conn.clientId` [MQTT-3.1.4-2]; its teardown finishes before this returns. */
  takeOver(conn: ClientLink): void;
  /** `conn` now holds its client id. */
  register(conn: ClientLink): void;
  /** `conn` closed: it no longer holds its client id (unless a newcomer already took it). */
  release(conn: ClientLink): void;
  values(): IterableIterator<ClientLink>;
}

export class LocalClientRegistry implements ClientRegistry {
  private readonly byId = new Map<string, ClientLink>();

  get size(): number {
    return this.byId.size;
  }

  get(clientId: string): ClientLink | undefined {
    return this.byId.get(clientId);
  }

  takeOver(conn: ClientLink): void {
    const previous = this.byId.get(conn.clientId);
    if (previous !== undefined && previous !== conn) previous.close(CloseReason.Takeover);
  }

  register(conn: ClientLink): void {
    this.byId.set(conn.clientId, conn);
  }

  release(conn: ClientLink): void {
    // Guard by identity: after a takeover the map already points at the newcomer.
    if (this.byId.get(conn.clientId) === conn) this.byId.delete(conn.clientId);
  }

  values(): IterableIterator<ClientLink> {
    return this.byId.values();
  }
}
