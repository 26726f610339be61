/**
 * Who a hook or an event is about: the types plugin.ts (the plugin API) and events.ts (broker
 * events) share, here so that neither imports the other for them.
 */

/** Who a delivery goes to: a Session, connected or not (it remembers its last username). */
export interface SubscriberInfo {
  readonly clientId: string;
  readonly username: string | null;
}

export interface ClientInfo extends SubscriberInfo {
  readonly remoteAddress: string;
  readonly listener: string;
}

/** A plain ClientInfo copy of a connection (plugins and event listeners never get the live object). */
export function clientInfo(conn: ClientInfo): ClientInfo {
  return { clientId: conn.clientId, username: conn.username, remoteAddress: conn.remoteAddress, listener: conn.listener };
}
