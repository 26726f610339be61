import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  type CanActivate,
  type ExecutionContext,
  ForbiddenException,
  HttpException,
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

/**
 * A Host header naming this machine by a loopback name: `localhost`, `127.x.x.x` or `[::1]`,
 * with any port. A DNS-rebinding page reaches a loopback socket under its own name
 * (`rebind.evil.example`), which this refuses.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(host.trim().toLowerCase());
  if (m === null || (m[2] !== undefined && Number(m[2]) > 65535)) return false;
  const name = m[1];
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** An Origin header of a page served from a loopback name (`http://localhost:3000`); `null` is foreign. */
export function isLoopbackOrigin(origin: string): boolean {
  const m = /^https?:\/\/(.+)$/i.exec(origin.trim());
  return m !== null && isLoopbackHost(m[1]);
}

/** Methods that change state: they need a request a browser cannot send cross-site without a CORS preflight. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** The header, besides `Content-Type: application/json`, that marks a deliberate (non-browser-form) request. */
export const ADMIN_REQUEST_HEADER = 'x-nestmq-request';

export type RequestProblem = { status: 403 | 415; message: string } | null;

/**
 * Cross-site and DNS-rebinding defences, for a request that passed adminAccess():
 *  - with no token, the loopback address alone proves nothing (a browser on this machine sends
 *    whatever a page asks): the Host must be a loopback name and an Origin, when sent, a
 *    loopback origin (else 403);
 *  - every state-changing request (POST, PUT, PATCH, DELETE), token or not, must carry
 *    `Content-Type: application/json` or an `X-Nestmq-Request` header (else 415): a cross-site
 *    form or `fetch` can send neither without a CORS preflight, which this server never grants.
 */
export function requestProblem(tokenConfigured: boolean, method: string | undefined, headers: IncomingHttpHeaders): RequestProblem {
  if (!tokenConfigured) {
    if (!isLoopbackHost(headers.host)) {
      return { status: 403, message: 'no admin token is configured: requests must name the host localhost, 127.0.0.1 or [::1]' };
    }
    const origin = headers.origin;
    if (origin !== undefined && !isLoopbackOrigin(origin)) {
      return { status: 403, message: 'no admin token is configured: cross-origin requests are refused' };
    }
  }
  if (!SAFE_METHODS.has((method ?? 'GET').toUpperCase())) {
    const type = headers['content-type'];
    const json = type !== undefined && type.split(';')[0].trim().toLowerCase() === 'application/json';
    if (!json && headers[ADMIN_REQUEST_HEADER] === undefined) {
      return { status: 415, message: 'state-changing requests need Content-Type: application/json (or an X-Nestmq-Request header)' };
    }
  }
  return null;
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

function problemBody(p: NonNullable<RequestProblem>): { statusCode: number; error: string; message: string } {
  return { statusCode: p.status, error: p.status === 403 ? 'Forbidden' : 'Unsupported Media Type', message: p.message };
}

function accessError(access: Exclude<AdminAccess, 'allowed'>): { statusCode: number; error: string; message: string } {
  return access === 'unauthorized'
    ? { statusCode: 401, error: 'Unauthorized', message: 'a valid bearer token is required' }
    : { statusCode: 403, error: 'Forbidden', message: 'no admin token is configured: the admin API answers loopback clients only' };
}

/**
 * Global guard of the admin HTTP application: every route needs the token (or, with none
 * configured, a loopback client naming a loopback host, see requestProblem) unless marked
 * @PublicEndpoint(). The token is never logged.
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
    if (access === 'allowed') {
      const problem = requestProblem(this.expected !== null, req.method, req.headers);
      if (problem === null) return true;
      throw new HttpException(problemBody(problem), problem.status);
    }
    if (access === 'unauthorized') {
      http.getResponse<ServerResponse>().setHeader('WWW-Authenticate', 'Bearer realm="nestmq"');
      throw new UnauthorizedException(accessError(access));
    }
    throw new ForbiddenException(accessError(access));
  }
}
