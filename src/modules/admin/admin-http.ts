import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { AdminConfig } from '../../core';

/** Counters of the admin HTTP server's own limits (exposed as metrics beside the broker's). */
export class AdminHttpStats {
  /** Connections closed at accept because admin.max-connections were open. */
  connectionsRefused = 0;
  /** Connections closed because headers (admin.headers-timeout) or the whole request (admin.request-timeout) came too slowly. */
  requestsTimedOut = 0;
  /** Tracer streams refused because admin.max-tracers were open. */
  tracersRefused = 0;
  /** Traced messages not sent because the tracer's browser read too slowly (its buffer was full). */
  tracerMessagesDropped = 0;
}

const REQUEST_TIMEOUT_RESPONSE = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';
const BAD_REQUEST_RESPONSE = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n';

/**
 * The Express adapter with the admin server made resistant to slow clients (slowloris): headers
 * and whole requests have deadlines, idle keep-alive connections close, and at most
 * admin.max-connections sockets are open at once (Node drops the others at accept). Node checks
 * the deadlines every `connectionsCheckingInterval` (30 s by default, which alone let a slow
 * client stay 30 s past its deadline): here a fraction of the headers deadline.
 */
export class AdminExpressAdapter extends ExpressAdapter {
  constructor(
    private readonly admin: AdminConfig,
    readonly httpStats = new AdminHttpStats(),
  ) {
    super();
  }

  override initHttpServer(): void {
    const a = this.admin;
    const server = http.createServer(
      {
        headersTimeout: a.headersTimeout * 1000,
        requestTimeout: a.requestTimeout * 1000,
        keepAliveTimeout: a.keepAliveTimeout * 1000,
        connectionsCheckingInterval: Math.max(50, Math.min(1000, (a.headersTimeout * 1000) / 4)),
      },
      this.getInstance(),
    );
    if (a.maxConnections > 0) server.maxConnections = a.maxConnections;
    const stats = this.httpStats;
    server.on('drop', () => void stats.connectionsRefused++);
    // Replaces Node's default handling (which is the same answer) in order to count timeouts.
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const timedOut = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      if (timedOut) stats.requestsTimedOut++;
      if (socket.writable && (err as { bytesParsed?: number }).bytesParsed !== undefined && err.code !== 'ECONNRESET') {
        socket.end(timedOut ? REQUEST_TIMEOUT_RESPONSE : BAD_REQUEST_RESPONSE);
      }
      socket.destroy();
    });
    this.setHttpServer(server);
  }
}
