import { readFileSync } from 'node:fs';
import { join } from 'node:path';

let cached: string | undefined;

/** nestmq's version, from package.json (three levels up from both src/core/sys and dist/core/sys). */
export function brokerVersion(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
