import type { ClientLeases } from '../cluster/types';
import type { ClientLink } from '../connection/link';
import type { WillMessage } from '../protocol/packets';
import type { Session } from '../sessions/session';
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
  /**
   * Cluster only: takes the client id cluster-wide before the session is claimed (CONNECT, once
   * authenticated; the connection's reading is paused meanwhile). Resolves true when this node
   * owns it now (conn.clusterToken set, the previous owner asked to close its connection), false
   * when the username rule refuses; rejects when the cluster cannot answer.
   */
  acquire?(conn: ClientLink, username: string | null): Promise<boolean>;
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

/** How long a CONNECT waits for a survivor adopting its session (then takes it all the same). */
const ADOPTION_WAIT_MS = 5000;
/** Its first wait before asking again (then doubled, up to 1 s). */
const ADOPTION_RETRY_MS = 25;

/** A lease of this long is kept for a session that never expires (PEXPIRE takes it). */
const NEVER_MS = 100 * 365 * 24 * 3600 * 1000;

/**
 * Client ids unique cluster-wide [MQTT-3.1.4-2]: this node's connections (LocalClientRegistry)
 * plus a lease per client id in the cluster (ClientLeases, with a fencing token). acquire() at
 * CONNECT takes the lease (after the username rule) and asks the previous owner node to close its
 * connection; that node closes it only if its token is older (a late kick never closes a newer
 * connection). A lease this node lost (kicked, or not renewed in time: Redis unreachable) closes
 * its connection: 0x8E Session taken over for a kick, 0x80 when the lease expired.
 */
export class ClusterClientRegistry extends LocalClientRegistry {
  /** Keeps the Wills of this node's clients where survivors find them (ClusterNode); null: not kept. */
  wills: { willConnected(conn: ClientLink, will: WillMessage): void; willGone(clientId: string): void } | null = null;
  /** The cluster-wide directory of connected clients (ClusterNode: admin listing); null: none. */
  directory: { clientConnected(conn: ClientLink): void; clientGone(clientId: string): void } | null = null;
  /** Drops a session taken over by another node from this node (the Broker: discardSession). */
  onTakenOver: ((session: Session) => void) | null = null;
  /**
   * A client whose session was held last by another node `from` is registered here (ClusterNode
   * records the cut of its move, for an adopter of `from`: docs/cluster.md "A client back before
   * its node is declared dead"); null: not recorded.
   */
  moved: ((conn: ClientLink, from: string) => void) | null = null;
  /** CONNECTs that found their session being adopted by a survivor and asked again (one per retry); the Broker shares ClusterNode's stats here. */
  stats: { adoptionWaits: number } = { adoptionWaits: 0 };
  /**
   * Client ids in CONNECT here that hold their lease, their session loading: the token, and the
   * node that held the session last when it is another one (null: none, or this node).
   */
  private readonly loading = new Map<string, { token: string; from: string | null }>();
  /** Client ids connected here whose Will is recorded. */
  private readonly withWill = new Set<string>();
  /**
   * Leases lost (kicked by a newer token) while their connection was between acquire() and
   * register(), loading its session: client id -> the lost token. At most one per client id in
   * CONNECT here; taken at register (the connection is then closed as taken over) or giveBack.
   */
  private readonly lostWhileLoading = new Map<string, string>();

  constructor(
    private readonly leases: ClientLeases,
    /** limits.session-expiry (s) for 3.1.1 persistent sessions: how long the username rule outlives the connection. */
    private readonly sessionExpiry: number,
    private readonly onError: (err: Error) => void,
  ) {
    super();
    leases.onLost(this.onLost);
    leases.onAdminKick(this.onAdminKick);
  }

  acquire(conn: ClientLink, username: string | null): Promise<boolean> {
    return this.acquireLease(conn, username, Date.now() + ADOPTION_WAIT_MS, ADOPTION_RETRY_MS);
  }

  /**
   * A session a survivor is adopting right now (a dead node's, docs/cluster.md "A client back
   * during the adoption") is asked for again after `wait` ms, doubling up to 1 s (a reconnect
   * storm during a large adoption costs Redis about ten calls per client, not hundreds), until the
   * adopter has written it, then loaded whole; after `deadline` it is taken all the same (an
   * adopter that died midway). The CONNECT waits meanwhile (its session is loading); counted.
   */
  private acquireLease(conn: ClientLink, username: string | null, deadline: number, wait: number): Promise<boolean> {
    const leases = this.leases;
    const clientId = conn.clientId;
    const force = Date.now() >= deadline;
    return leases.acquire(clientId, username, this.keepMs(conn), force).then((result) => {
      if ('refused' in result) return false;
      if ('adopting' in result) {
        this.stats.adoptionWaits++;
        if (conn.closeReason !== '') return false; // gone meanwhile: nothing was taken
        return new Promise<void>((resolve) => setTimeout(resolve, Math.min(wait, deadline - Date.now() + 1))).then(() =>
          this.acquireLease(conn, username, deadline, Math.min(wait * 2, 1000)),
        );
      }
      const token = result.token;
      conn.clusterToken = token;
      const holder = result.holder;
      this.loading.set(clientId, { token, from: holder !== null && holder !== leases.nodeId ? holder : null });
      if (result.previousOwner !== null && result.previousOwner !== leases.nodeId) {
        leases.kick(result.previousOwner, clientId, token).catch(this.reportError);
      }
      // Gone while the lease was taken (the client closed): give it back at once.
      if (conn.closeReason !== '') this.giveBack(conn);
      return true;
    });
  }

  /** Whether a connection of `clientId` holding lease `token` is in CONNECT here (its session loading). */
  isLoading(clientId: string, token: string): boolean {
    return this.loading.get(clientId)?.token === token;
  }

  /** How long the ownership record (and its username) outlives the connection: the session's lifetime. */
  private keepMs(conn: ClientLink): number {
    const v5 = conn.v5;
    if (v5 !== null) {
      const s = v5.sessionExpiryInterval;
      return s === 0 ? 0 : s === 0xffffffff ? NEVER_MS : s * 1000;
    }
    if (conn.cleanSession) return 0;
    return this.sessionExpiry > 0 ? this.sessionExpiry * 1000 : NEVER_MS;
  }

  override register(conn: ClientLink): void {
    super.register(conn);
    const loaded = this.loading.get(conn.clientId);
    // Still its token (not taken over while loading).
    const own = loaded !== undefined && loaded.token === conn.clusterToken;
    if (own) this.loading.delete(conn.clientId);
    if (this.lostWhileLoading.size > 0) this.lostMeanwhile(conn);
    // The session came from another node: record the cut of its move.
    if (own && loaded.from !== null) this.moved?.(conn, loaded.from);
    this.directory?.clientConnected(conn);
    if (conn.will !== null && this.wills !== null) {
      this.withWill.add(conn.clientId);
      this.wills.willConnected(conn, conn.will);
    }
  }

  override release(conn: ClientLink): void {
    super.release(conn);
    // The Will record is this node's for the client id: gone with its last local connection.
    const last = this.get(conn.clientId) === undefined;
    if (this.wills !== null && last && this.withWill.delete(conn.clientId)) this.wills.willGone(conn.clientId);
    if (last) this.directory?.clientGone(conn.clientId);
    this.giveBack(conn);
  }

  /**
   * Drain: a client whose session goes on is closed without publishing its Will here; its Will
   * record stays in Redis for a survivor (published only if the client does not come back).
   * False when the connection has no recorded Will.
   */
  handOverWill(conn: ClientLink, handOver: (conn: ClientLink, will: WillMessage) => void): boolean {
    const will = conn.will;
    if (will === null || this.get(conn.clientId) !== conn || !this.withWill.delete(conn.clientId)) return false;
    conn.will = null;
    handOver(conn, will);
    return true;
  }

  private readonly onAdminKick = (clientId: string): void => {
    this.get(clientId)?.close(CloseReason.Admin);
  };

  /**
   * A newer connection elsewhere took the client id while this one loaded its session (a takeover
   * race: the kick came before register). It has its CONNACK now (written in this turn); it is
   * closed right after as taken over, as a kick after register would have.
   */
  private lostMeanwhile(conn: ClientLink): void {
    const lost = this.lostWhileLoading.get(conn.clientId);
    if (lost === undefined || lost !== conn.clusterToken) return;
    this.lostWhileLoading.delete(conn.clientId);
    conn.clusterToken = null;
    conn.will = null;
    setImmediate(() => {
      if (conn.closeReason === '') conn.close(CloseReason.Takeover);
    });
  }

  /** The lease of a connection that ended (or never attached); only if its token is still current. */
  giveBack(conn: ClientLink): void {
    const token = conn.clusterToken;
    if (token !== null && this.lostWhileLoading.get(conn.clientId) === token) this.lostWhileLoading.delete(conn.clientId);
    if (token !== null && this.loading.get(conn.clientId)?.token === token) this.loading.delete(conn.clientId);
    if (token === null) return;
    conn.clusterToken = null;
    this.leases.release(conn.clientId, token).catch(this.reportError);
  }

  private readonly onLost = (clientId: string, token: string, why: 'kicked' | 'expired'): void => {
    const conn = this.get(clientId);
    if (conn === undefined || conn.clusterToken !== token) {
      // Not registered yet (its session is loading): register() closes it.
      if (why === 'kicked') this.lostWhileLoading.set(clientId, token);
      return;
    }
    // The lease is gone: nothing to give back (a newer token owns the record, or none does).
    conn.clusterToken = null;
    if (why === 'expired') return conn.close(CloseReason.StoreFailure);
    // Taken over from another node: the client goes on there. Its Will is not published here
    // (a reconnection, as a same-node takeover that resumes the session; docs/cluster.md), and
    // the session leaves this node's memory: the new owner has it (or, with per-node stores, a
    // new one), and its routes must not keep drawing messages here.
    const session = conn.session;
    conn.will = null;
    conn.close(CloseReason.Takeover);
    if (session !== null && session.connection === null && this.onTakenOver !== null) this.onTakenOver(session);
  };

  private readonly reportError = (err: unknown): void => {
    this.onError(err instanceof Error ? err : new Error(String(err)));
  };
}
