import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative, sep } from 'node:path';
import { Controller, Get, NotFoundException, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { PublicEndpoint } from './admin-token.guard';

/** Where the dashboard's files are: beside this module (copied to dist/ by `npm run build`). */
export const DASHBOARD_DIR = join(__dirname, 'dashboard', 'public');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/**
 * The page may load only its own files and talk only to this server; no frame may hold it (a
 * framed "kick" button is clickjacking). Topic names, client ids and payloads shown are
 * attacker-chosen text: the UI renders them as text (Preact escapes), and this policy forbids
 * any inline script should one slip through.
 */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  type: string;
  body: Buffer;
}

/** Every file under the folder, read once: requests pick from this map, never from the file system (no path traversal). */
function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else {
        const type = TYPES[extname(name)];
        if (type !== undefined) assets.set(relative(dir, p).split(sep).join('/'), { type, body: readFileSync(p) });
      }
    }
  };
  walk(dir);
  return assets;
}

/**
 * The web dashboard at /dashboard: static files, public (they hold no data and no secret); every
 * figure they show comes from the admin API with the token the operator enters (kept in the
 * tab's sessionStorage, sent as a bearer header, never in a URL).
 */
@ApiExcludeController()
@PublicEndpoint()
@Controller('dashboard')
export class DashboardController {
  private readonly assets = loadAssets(DASHBOARD_DIR);

  @Get()
  index(@Res() res: ServerResponse): void {
    this.send(res, 'index.html');
  }

  @Get('*asset')
  asset(@Req() req: IncomingMessage & { path: string }, @Res() res: ServerResponse): void {
    const name = req.path.replace(/^\/dashboard\/?/, '');
    this.send(res, name === '' ? 'index.html' : name);
  }

  private send(res: ServerResponse, name: string): void {
    const asset = this.assets.get(name);
    if (asset === undefined) throw new NotFoundException('no such dashboard file');
    res.writeHead(200, {
      'Content-Type': asset.type,
      'Content-Length': asset.body.length,
      'Content-Security-Policy': CSP,
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': name === 'index.html' ? 'no-store' : 'no-cache',
    });
    res.end(asset.body);
  }
}
