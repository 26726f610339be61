/**
 * What a connection may ask of the engine that hosts it (ConnectionHost), and the packet dispatch
 * it is given (PacketDispatcher). Connection depends on these interfaces only: the engine
 * implements the host, and the handlers (src/core/handlers) the dispatcher, which whoever
 * assembles the broker injects (`createDispatcher(engine)`). So connection/, engine/ and
 * handlers/ import one another in one direction only.
 */
import type { BrokerConfig, LimitsConfig } from '../config/types';
import type { BrokerStats } from '../engine/stats';
import type { Packet } from '../protocol/packets';

/** Handles the packets of a connection, in order; the only place errors become closes. */
export interface PacketDispatcher<C> {
  handlePacket(conn: C, packet: Packet): void;
  /** A packet could not be decoded (or handling it threw outside handlePacket). */
  handleFailure(conn: C, err: unknown): void;
  /** The AuthGate's turn for a CONNECT whose verification waited in its queue. */
  authenticationTurn(conn: C): void;
}

export interface ConnectionHost<C> {
  readonly config: BrokerConfig;
  readonly limits: LimitsConfig;
  readonly stats: BrokerStats;
  /** True with a durable store: output waits for the group commit. */
  readonly durable: boolean;
  readonly dispatcher: PacketDispatcher<C>;
  /** The connection queued its first output of this turn: flush it with the others. */
  scheduleFlush(conn: C): void;
  /** Group commit before a write; false when the state is not stored (the output must not leave). */
  tryCommit(): boolean;
  /** A write was taken whole by the kernel (no 'drain' will follow) by a connection with engine state (flow, retained jobs). */
  writeCompleted(conn: C): void;
  /** The connection's socket drained. */
  drained(conn: C): void;
  connectionClosed(conn: C, wasConnected: boolean): void;
}
