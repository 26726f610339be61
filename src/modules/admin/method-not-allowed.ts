import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NestExpressApplication } from '@nestjs/platform-express';

interface RouteLayer {
  route?: { path: unknown; methods: Record<string, boolean> };
  match(path: string): unknown;
}

/**
 * 405 Method Not Allowed, with an `Allow` header, for a known path asked with a method it does not
 * serve (RFC 9110 §15.5.6); Express alone answers 404, as if the path did not exist. Installed
 * before the routes; it reads Express's route table at request time (complete once Nest has
 * registered its controllers), so every controller is covered without a list to maintain.
 */
export function methodNotAllowed(app: NestExpressApplication) {
  const express = app.getHttpAdapter().getInstance() as { router?: { stack: RouteLayer[] }; _router?: { stack: RouteLayer[] } };
  return (req: IncomingMessage & { path?: string }, res: ServerResponse, next: () => void): void => {
    const stack = (express.router ?? express._router)?.stack ?? [];
    const path = req.path ?? new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = (req.method ?? 'GET').toUpperCase();
    let allowed: Set<string> | null = null;
    for (const layer of stack) {
      const route = layer.route;
      // Catch-all routes (`/{*path}`: Nest's middleware bindings for every method) say nothing.
      if (route === undefined || (typeof route.path === 'string' && route.path.includes('*')) || !layer.match(path)) continue;
      const methods = route.methods;
      if (methods._all || methods[method.toLowerCase()] || (method === 'HEAD' && methods.get)) return next();
      allowed ??= new Set();
      for (const m of Object.keys(methods)) allowed.add(m.toUpperCase());
      if (methods.get) allowed.add('HEAD');
    }
    if (allowed === null) return next();
    const allow = [...allowed].sort().join(', ');
    res.statusCode = 405;
    res.setHeader('Allow', allow);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.end(JSON.stringify({ statusCode: 405, error: 'Method Not Allowed', message: `${method} ${path}: allowed methods are ${allow}` }));
  };
}
