import type { IncomingMessage, ServerResponse } from 'node:http';
import { type CallHandler, type ExecutionContext, HttpException, Inject, Injectable, type NestInterceptor } from '@nestjs/common';
import type { Logger } from 'pino';
import { type Observable, tap } from 'rxjs';
import type { BrokerConfig } from '../../core';
import { PINO_LOGGER } from '../logging/pino';
import { BROKER_CONFIG } from '../tokens';

/** Body fields that name what a request acts on; payloads and passwords are never among them. */
const TARGET_BODY_FIELDS = ['username', 'topic', 'filter', 'qos', 'retain', 'scheme'] as const;
/** Query fields that name what a request acts on. */
const TARGET_QUERY_FIELDS = ['filter', 'discardSession'] as const;

type AuditedRequest = IncomingMessage & {
  path?: string;
  params?: Record<string, string>;
  query?: Record<string, unknown>;
  body?: unknown;
};

/**
 * The admin audit trail: one `audit` log line per admin API request that reached its handler,
 * with who (peer address, and "token" or "loopback": how the guard let it in), what (method,
 * path, target: route parameters and the naming fields of query and body), when (pino's `time`)
 * and the outcome (status). Never a payload, a password or the token.
 */
@Injectable()
export class AdminAuditInterceptor implements NestInterceptor {
  private readonly log: Logger;
  private readonly via: 'token' | 'loopback';

  constructor(@Inject(PINO_LOGGER) pino: Logger, @Inject(BROKER_CONFIG) config: BrokerConfig) {
    this.log = pino.child({ context: 'audit' });
    // The guard admits a request with the token when one is configured, else loopback peers only.
    this.via = config.admin.token === undefined ? 'loopback' : 'token';
  }

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const http = context.switchToHttp();
    const req = http.getRequest<AuditedRequest>();
    const res = http.getResponse<ServerResponse>();
    const entry = {
      audit: true,
      who: { remoteAddress: req.socket.remoteAddress, via: this.via },
      method: req.method,
      path: req.path ?? req.url,
      target: auditTarget(req),
    };
    return next.handle().pipe(
      tap({
        complete: () => this.log.info({ ...entry, status: res.statusCode }, `admin ${entry.method} ${entry.path}`),
        error: (err: unknown) =>
          this.log.warn({ ...entry, status: err instanceof HttpException ? err.getStatus() : 500 }, `admin ${entry.method} ${entry.path} refused`),
      }),
    );
  }
}

function auditTarget(req: AuditedRequest): Record<string, unknown> {
  const target: Record<string, unknown> = { ...(req.params ?? {}) };
  const query = req.query ?? {};
  for (const k of TARGET_QUERY_FIELDS) if (typeof query[k] === 'string') target[k] = query[k];
  const body = req.body;
  if (typeof body === 'object' && body !== null) {
    for (const k of TARGET_BODY_FIELDS) {
      const v = (body as Record<string, unknown>)[k];
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') target[k] = v;
    }
  }
  return target;
}
