import { performance } from 'node:perf_hooks';
import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { Broker } from '../../core';
import { ShutdownService } from './shutdown.service';

/** A readiness check of the stores that takes longer than this counts as unreachable. */
const STORE_CHECK_TIMEOUT_MS = 2000;

/**
 * Health indicators over the Broker, built with terminus's HealthIndicatorService:
 *  - liveness: the process answers and its event loop turns (with the loop's recent delay);
 *  - readiness: the broker is started and not draining, every configured listener is bound, the
 *    stores answer (a durable backend commits).
 */
@Injectable()
export class BrokerHealthIndicator {
  constructor(
    @Inject(Broker) private readonly broker: Broker,
    @Inject(HealthIndicatorService) private readonly health: HealthIndicatorService,
    @Inject(ShutdownService) private readonly shutdown: ShutdownService,
  ) {}

  /**
   * Answering proves the process runs; one full turn of the event loop (setImmediate) proves the
   * loop is not stuck, and its duration tells how busy it is.
   */
  async process(): Promise<HealthIndicatorResult<'process'>> {
    const t0 = performance.now();
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.health.check('process').up({
      pid: process.pid,
      uptimeSeconds: Math.round(process.uptime()),
      eventLoopTurnMs: round(performance.now() - t0),
    });
  }

  /** Started and not shutting down. */
  brokerState(): HealthIndicatorResult<'broker'> {
    const check = this.health.check('broker');
    const state = this.broker.state;
    const draining = this.shutdown.drainingReason;
    const data = { state, uptimeSeconds: Math.floor(this.broker.uptimeSeconds), ...(draining !== null ? { shuttingDown: draining } : {}) };
    return state === 'started' && draining === null ? check.up(data) : check.down(data);
  }

  /** Every configured listener bound, with its address. */
  listeners(): HealthIndicatorResult<'listeners'> {
    const check = this.health.check('listeners');
    const all = this.broker.listenerStatus();
    const data: Record<string, unknown> = {};
    for (const l of all) data[l.name] = { bound: l.bound, type: l.type, ssl: l.ssl, address: `${l.host}:${l.port}`, connections: l.connections };
    return all.length > 0 && all.every((l) => l.bound) && this.broker.ready ? check.up(data) : check.down(data);
  }

  /**
   * Clustered: Redis reachable and this node a member (a heartbeat within the node TTL). Up with
   * `enabled: false` on a single node.
   */
  cluster(): HealthIndicatorResult<'cluster'> {
    const check = this.health.check('cluster');
    const node = this.broker.cluster;
    if (node === null) return check.up({ enabled: false });
    const data = { node: node.nodeId, redis: node.redisUp ? 'up' : 'down' };
    return node.redisUp ? check.up(data) : check.down({ ...data, message: 'Redis unreachable or this node is not a member' });
  }

  /** The session and retained stores answer (a durable backend commits what it holds). */
  async persistence(): Promise<HealthIndicatorResult<'persistence'>> {
    const check = this.health.check('persistence');
    const backend = this.broker.config.persistence.backend;
    if (this.broker.state !== 'started') return check.down({ backend, message: `broker ${this.broker.state}` });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.broker.checkStores(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${STORE_CHECK_TIMEOUT_MS} ms`)), STORE_CHECK_TIMEOUT_MS);
        }),
      ]);
      return check.up({ backend });
    } catch (err) {
      return check.down({ backend, message: (err as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }
}

function round(n: number): number {
  return Number.isFinite(n) ? Math.round(n * 100) / 100 : 0;
}
