import type { IncomingMessage, ServerResponse } from 'node:http';
import { type DynamicModule, Global, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream, Logger } from 'pino';
import type { BrokerConfig } from '../../core';
import { BrokerModule } from '../broker/broker.module';
import { BROKER_CONFIG } from '../tokens';
import { BrokerEventsLogger } from './broker-events.logger';
import { createPinoLogger, LOG_DESTINATION, PINO_LOGGER } from './pino';
import { ServiceLogger } from './service-logger';

export interface LoggingOptions {
  /** Where log lines go (default stdout). */
  destination?: DestinationStream;
}

/** Probes and scrapes arrive every few seconds: not worth a line each. */
const QUIET_PATHS = /^\/(health|metrics)(\/|\?|$)/;

/** The root pino logger of this application, built from `logging` in the config. */
@Module({})
class PinoRootModule {
  static forRoot(destination: DestinationStream | undefined): DynamicModule {
    return {
      module: PinoRootModule,
      providers: [
        { provide: LOG_DESTINATION, useValue: destination ?? null },
        {
          provide: PINO_LOGGER,
          inject: [BROKER_CONFIG, LOG_DESTINATION],
          useFactory: (config: BrokerConfig, dest: DestinationStream | null): Logger => createPinoLogger(config.logging, dest ?? undefined),
        },
      ],
      exports: [PINO_LOGGER],
    };
  }
}

/**
 * Structured logs: pino through nestjs-pino. The admin HTTP requests are logged by pino-http
 * (method, url, status, time; never headers, so never a bearer token), Nest's own lines go
 * through ServiceLogger, and broker events through BrokerEventsLogger.
 */
@Global()
@Module({})
export class LoggingModule {
  static forRoot(options: LoggingOptions = {}): DynamicModule {
    const root = PinoRootModule.forRoot(options.destination);
    return {
      module: LoggingModule,
      imports: [
        root,
        BrokerModule,
        LoggerModule.forRootAsync({
          imports: [root],
          inject: [PINO_LOGGER],
          useFactory: (logger: Logger) => ({
            pinoHttp: {
              logger: logger.child({ context: 'http' }),
              autoLogging: { ignore: (req: IncomingMessage) => QUIET_PATHS.test(req.url ?? '') },
              customLogLevel: (_req: IncomingMessage, res: ServerResponse, err?: Error) =>
                err !== undefined || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info',
              customSuccessMessage: (req: IncomingMessage, res: ServerResponse) => `${req.method} ${req.url} ${res.statusCode}`,
              customErrorMessage: (req: IncomingMessage, res: ServerResponse) => `${req.method} ${req.url} ${res.statusCode}`,
              serializers: {
                req: (req: { id: unknown; method: string; url: string; remoteAddress?: string }) => ({
                  id: req.id,
                  method: req.method,
                  url: req.url,
                  remoteAddress: req.remoteAddress,
                }),
                res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
              },
            },
          }),
        }),
      ],
      providers: [ServiceLogger, BrokerEventsLogger],
      exports: [ServiceLogger, root],
    };
  }
}
