/**
 * Nest application contexts for the module tests. @nestjs/testing is not installed, so the
 * modules under test are imported into a root module and built with
 * NestFactory.createApplicationContext, which also runs the lifecycle hooks (BrokerModule starts
 * its Broker in init()).
 */
import { type DynamicModule, type INestApplicationContext, type LoggerService, Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { BrokerConfigInput } from '../../../src/core';
import { BrokerConfigModule } from '../../../src/modules/config/broker-config.module';

/** Collects what Nest and the broker lifecycle log at warn (the broker's 'warning' events land here). */
export class CapturedLog implements LoggerService {
  readonly warnings: string[] = [];
  log(): void {}
  error(): void {}
  debug(): void {}
  verbose(): void {}
  warn(message: unknown): void {
    this.warnings.push(String(message));
  }
}

export async function moduleContext(
  config: BrokerConfigInput,
  imports: (Type | DynamicModule)[],
  logger: LoggerService = new CapturedLog(),
): Promise<INestApplicationContext> {
  @Module({ imports: [BrokerConfigModule.forRoot({ config }), ...imports] })
  class ModuleUnderTest {}
  return NestFactory.createApplicationContext(ModuleUnderTest, { logger, abortOnError: false });
}
