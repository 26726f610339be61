import { Inject, Injectable, type LoggerService } from '@nestjs/common';
import type { Level, Logger } from 'pino';
import { PINO_LOGGER } from './pino';

/** Nest's framework bootstrap chatter, kept out of the service's info-level log. */
const FRAMEWORK_CONTEXTS = new Set([
  'InstanceLoader', 'NestFactory', 'NestApplication', 'RoutesResolver', 'RouterExplorer', 'NestApplicationContext',
]);

/**
 * Nest's LoggerService over the application's pino logger, so Nest's own lines and the broker's
 * share one structured stream: `{"level":30,"time":...,"context":"nestmq","msg":"..."}`.
 * Nest calls `log(message, context)` and `error(message, stack, context)`; the context becomes a
 * field, framework contexts go to debug.
 */
@Injectable()
export class ServiceLogger implements LoggerService {
  constructor(@Inject(PINO_LOGGER) private readonly pino: Logger) {}

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    const fields: Record<string, unknown> = {};
    const rest = [...params];
    if (rest.length > 0 && typeof rest[rest.length - 1] === 'string') fields.context = rest.pop();
    if (level === 'info' && FRAMEWORK_CONTEXTS.has(fields.context as string)) level = 'debug';
    if (!this.pino.isLevelEnabled(level)) return;
    // error(message, stack, context): Nest's exception handlers pass the stack second.
    if (level === 'error' && typeof rest[0] === 'string' && rest[0].includes('\n    at ')) fields.stack = rest.shift();
    if (message instanceof Error) {
      fields.err = message;
      this.pino[level](fields, message.message);
    } else if (typeof message === 'object' && message !== null) {
      this.pino[level]({ ...fields, ...(message as object) });
    } else {
      this.pino[level](fields, String(message));
    }
  }
}
