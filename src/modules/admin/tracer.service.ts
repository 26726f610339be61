import type { ServerResponse } from 'node:http';
import { type BeforeApplicationShutdown, Inject, Injectable, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { Broker, type BrokerConfig, type MessageReceivedEvent } from '../../core';
import { levels, type Levels, matches } from '../../core/auth/topic-match';
import { BROKER_CONFIG } from '../tokens';
import { AdminExpressAdapter, AdminHttpStats } from './admin-http';
import { payloadViews } from './admin-params';

/** Bytes a tracer's response may hold unsent (the browser reads slowly): beyond it messages are dropped and counted. */
export const TRACER_BUFFER_BYTES = 256 * 1024;
/** Payload bytes a traced message shows; the rest is cut (`truncated`, `size` tell). */
export const TRACER_PAYLOAD_PREVIEW = 4096;
/** A `stats` event (sent, dropped) this often: also keeps proxies from closing an idle stream. */
const TRACER_HEARTBEAT_MS = 10_000;

/** One open tracer: an SSE response fed by the broker's messageReceived event. */
class Tracer {
  sent = 0;
  dropped = 0;
  private readonly rule: Levels;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    readonly filter: string,
    private readonly res: ServerResponse,
    private readonly stats: AdminHttpStats,
  ) {
    this.rule = levels(filter);
    this.heartbeat = setInterval(() => this.write('stats', { sent: this.sent, dropped: this.dropped }), TRACER_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  onMessage(m: MessageReceivedEvent): void {
    if (!matches(this.rule, levels(m.topic))) return;
    if (this.res.writableLength > TRACER_BUFFER_BYTES) {
      this.dropped++;
      this.stats.tracerMessagesDropped++;
      return;
    }
    this.sent++;
    const preview = m.payload.length > TRACER_PAYLOAD_PREVIEW ? m.payload.subarray(0, TRACER_PAYLOAD_PREVIEW) : m.payload;
    const views = payloadViews(preview);
    this.write('message', {
      time: Date.now(),
      clientId: m.clientId,
      topic: m.topic,
      qos: m.qos,
      retain: m.retain,
      size: m.payload.length,
      truncated: preview !== m.payload,
      payloadBase64: views.payloadBase64,
      payloadUtf8: views.payloadUtf8,
      dropped: this.dropped,
    });
  }

  write(event: string, data: unknown): void {
    if (!this.res.writableEnded) this.res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  close(): void {
    clearInterval(this.heartbeat);
    if (!this.res.writableEnded) this.res.end();
  }
}

/**
 * Live message tracers for the dashboard: GET /api/v1/trace streams every message whose topic
 * matches a filter as Server-Sent Events. The administrator sees everything (no ACL applies: the
 * token is the only check). Bounded: at most admin.max-tracers streams at once (a further one
 * gets 429), each with at most TRACER_BUFFER_BYTES unsent, beyond which messages are dropped and
 * counted rather than buffered. The broker pays nothing while no tracer is open: the
 * messageReceived listener exists only while one is.
 */
@Injectable()
export class TracerService implements BeforeApplicationShutdown {
  private readonly tracers = new Set<Tracer>();
  readonly stats: AdminHttpStats;
  private readonly onMessage = (m: MessageReceivedEvent): void => {
    for (const t of this.tracers) t.onMessage(m);
  };
  private readonly onStopping = (): void => this.closeAll();

  constructor(
    @Inject(Broker) private readonly broker: Broker,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
    @Optional() @Inject(HttpAdapterHost) adapterHost?: HttpAdapterHost,
  ) {
    const adapter = adapterHost?.httpAdapter;
    this.stats = adapter instanceof AdminExpressAdapter ? adapter.httpStats : new AdminHttpStats();
    broker.on('stopping', this.onStopping);
  }

  get open(): number {
    return this.tracers.size;
  }

  /** Starts a stream on `res` (the SSE headers are written here), or returns false at the limit. */
  start(filter: string, res: ServerResponse): boolean {
    if (this.tracers.size >= this.config.admin.maxTracers) {
      this.stats.tracersRefused++;
      return false;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'X-Accel-Buffering': 'no',
    });
    const tracer = new Tracer(filter, res, this.stats);
    if (this.tracers.size === 0) this.broker.on('messageReceived', this.onMessage);
    this.tracers.add(tracer);
    tracer.write('open', { filter, bufferBytes: TRACER_BUFFER_BYTES, payloadPreview: TRACER_PAYLOAD_PREVIEW });
    const done = (): void => this.remove(tracer);
    res.once('close', done);
    return true;
  }

  private remove(tracer: Tracer): void {
    if (!this.tracers.delete(tracer)) return;
    tracer.close();
    if (this.tracers.size === 0) this.broker.off('messageReceived', this.onMessage);
  }

  private closeAll(): void {
    for (const t of [...this.tracers]) this.remove(t);
  }

  /** Open streams would keep the HTTP server from closing. */
  beforeApplicationShutdown(): void {
    this.closeAll();
    this.broker.off('stopping', this.onStopping);
  }
}
