import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LoggingConfig } from '../../core';

/** The service's root pino logger, one per application (injected; never a module-level singleton). */
export const PINO_LOGGER = Symbol('PINO_LOGGER');
/** Optional destination for the service's log lines (tests collect them); stdout when absent. */
export const LOG_DESTINATION = Symbol('LOG_DESTINATION');

/**
 * Paths never written out, whatever the level: bearer tokens and cookies of admin requests. The
 * request serializer below keeps no headers at all; this is the second line of defence.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  'password',
  '*.token',
  '*.password',
];

/**
 * JSON lines (one object a line, pino's format) by default; `format: pretty` prints the same
 * records human-readable through pino-pretty, synchronously (development use).
 */
export function createPinoLogger(config: LoggingConfig, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    name: 'nestmq',
    level: config.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  };
  if (config.format === 'pretty') {
    const stream = pretty({
      sync: true,
      colorize: destination === undefined && process.stdout.isTTY === true,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname,name,context,req,res,responseTime',
      messageFormat: '{if context}[{context}] {end}{msg}',
      destination: destination ?? 1,
    });
    return pino(options, stream);
  }
  // Synchronous writes: lifecycle lines are few, and none is lost when the process exits.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
}
