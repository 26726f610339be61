import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  Inject,
  Injectable,
  SetMetadata,
  UnauthorizedException,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { BrokerConfig } from '../../core';
import { BROKER_CONFIG } from '../tokens';

const PUBLIC_ENDPOINT = 'nestmq:public-endpoint';

/** Marks a controller or route that answers without a token (health probes, metrics). */
export const PublicEndpoint = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ENDPOINT, true);

export type AdminAccess = 'allowed' | 'unauthorized' | 'forbidden';

/** 127.0.0.0/8, ::1, and IPv4 loopback as an IPv4-mapped IPv6 address. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** SHA-256 of a token: both sides are compared as digests, so always at equal length. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * The admin API's access rule, on its own so it can be tested for any address:
 *  - with a token configured: `Authorization: Bearer <token>` is required (else 'unauthorized');
 *    the presented token is hashed and compared with crypto.timingSafeEqual, so neither its
 *    length nor its content shows in the time taken;
 *  - with no token: only loopback clients are served (else 'forbidden').
 * `remoteAddress` is the socket's peer address: X-Forwarded-For and the like are never trusted.
 */
export function adminAccess(expected: Buffer | null, authorization: string | undefined, remoteAddress: string | undefined): AdminAccess {
  if (expected === null) return isLoopback(remoteAddress) ? 'allowed' : 'forbidden';
  const m = authorization === undefined ? null : /^Bearer[ \t]+(\S+)\s*$/i.exec(authorization);
  if (m === null) return 'unauthorized';
  return timingSafeEqual(tokenDigest(m[1]), expected) ? 'allowed' : 'unauthorized';
}

/** The same rule for routes outside Nest's controllers (the OpenAPI documents): an express-style middleware. */
export function adminAccessMiddleware(config: BrokerConfig) {
  const expected = config.admin.token === undefined ? null : tokenDigest(config.admin.token);
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const access = adminAccess(expected, req.headers.authorization, req.socket.remoteAddress);
    if (access === 'allowed') return next();
    const status = access === 'unauthorized' ? 401 : 403;
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="nestmq"');
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(accessError(access)));
  };
}

function accessError(access: Exclude<AdminAccess, 'allowed'>): { statusCode: number; error: string; message: string } {
  return access === 'unauthorized'
    ? { statusCode: 401, error: 'Unauthorized', message: 'a valid bearer token is required' }
    : { statusCode: 403, error: 'Forbidden', message: 'no admin token is configured: the admin API answers loopback clients only' };
}

/**
 * Global guard of the admin HTTP application: every route needs the token (or, with none
 * configured, a loopback client) unless marked @PublicEndpoint(). The token is never logged.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly expected: Buffer | null;

  constructor(
    @Inject(BROKER_CONFIG) config: BrokerConfig,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {
    this.expected = config.admin.token === undefined ? null : tokenDigest(config.admin.token);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ENDPOINT, [context.getHandler(), context.getClass()])) return true;
    const http = context.switchToHttp();
    const req = http.getRequest<IncomingMessage>();
    const access = adminAccess(this.expected, req.headers.authorization, req.socket.remoteAddress);
    if (access === 'allowed') return true;
    if (access === 'unauthorized') {
      http.getResponse<ServerResponse>().setHeader('WWW-Authenticate', 'Bearer realm="nestmq"');
      throw new UnauthorizedException(accessError(access));
    }
    throw new ForbiddenException(accessError(access));
  }
}
