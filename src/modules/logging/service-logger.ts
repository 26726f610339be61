import { ConsoleLogger } from '@nestjs/common';

/** Nest's framework bootstrap chatter, kept out of the service's info-level log. */
const FRAMEWORK_CONTEXTS = new Set(['InstanceLoader', 'NestFactory', 'NestApplication', 'RoutesResolver', 'RouterExplorer']);

/** Console logger for the service: the broker's own lines at info, Nest's internals only at debug. */
export class ServiceLogger extends ConsoleLogger {
  override log(message: unknown, context?: string): void {
    if (context !== undefined && FRAMEWORK_CONTEXTS.has(context)) return this.debug(message, context);
    super.log(message, context);
  }
}
