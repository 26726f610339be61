import { type INestApplicationContext, Module, type Provider } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Broker, type BrokerConfigInput } from '../../../src/core';
import { BrokerHealthIndicator } from '../../../src/modules/admin/broker.health';
import { ShutdownService } from '../../../src/modules/admin/shutdown.service';
import { BrokerModule } from '../../../src/modules/broker/broker.module';
import { BrokerConfigModule } from '../../../src/modules/config/broker-config.module';
import { CapturedLog } from './nest-context';

/**
 * In the style of terminus's indicator spec (sample/000-dogs-app/src/dog/dog.health.spec.ts):
 * the indicator resolved from a module, one state arranged per case, up or down asserted. Here the
 * broker is real (BrokerModule's, bound to a loopback port) and so is HealthIndicatorService.
 */
const config: BrokerConfigInput = { listeners: { default: { type: 'tcp', bind: '127.0.0.1:0' } } };

async function indicatorContext(brokerProvider: 'module' | Provider): Promise<INestApplicationContext> {
  @Module({
    imports: [BrokerConfigModule.forRoot({ config }), ...(brokerProvider === 'module' ? [BrokerModule] : [])],
    providers: [BrokerHealthIndicator, ShutdownService, HealthIndicatorService, ...(brokerProvider === 'module' ? [] : [brokerProvider])],
  })
  class IndicatorUnderTest {}
  return NestFactory.createApplicationContext(IndicatorUnderTest, { logger: new CapturedLog(), abortOnError: false });
}

describe('BrokerHealthIndicator', () => {
  let app: INestApplicationContext | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it('marks broker, listeners and persistence as up once the broker has started', async () => {
    // Arrange
    app = await indicatorContext('module');
    const indicator = app.get(BrokerHealthIndicator);

    // Act
    const results = { ...indicator.brokerState(), ...indicator.listeners(), ...(await indicator.persistence()), ...(await indicator.process()) };

    // Assert
    expect(results.broker).toMatchObject({ status: 'up', state: 'started' });
    expect(results.listeners).toMatchObject({ status: 'up', default: { bound: true, type: 'tcp' } });
    expect(results.persistence).toEqual({ status: 'up', backend: 'memory' });
    expect(results.process).toMatchObject({ status: 'up', pid: process.pid });
  });

  it('marks the broker as down while shutdown drains', async () => {
    app = await indicatorContext('module');
    app.get(ShutdownService).beginDrain('SIGTERM');
    expect(app.get(BrokerHealthIndicator).brokerState().broker).toMatchObject({ status: 'down', state: 'started', shuttingDown: 'SIGTERM' });
  });

  it('marks everything but the process as down once the broker has stopped', async () => {
    app = await indicatorContext('module');
    await app.get(Broker).shutdown();
    const indicator = app.get(BrokerHealthIndicator);
    expect(indicator.brokerState().broker).toMatchObject({ status: 'down', state: 'stopped' });
    expect(indicator.listeners().listeners).toMatchObject({ status: 'down', default: { bound: false } });
    expect((await indicator.persistence()).persistence).toEqual({ status: 'down', backend: 'memory', message: 'broker stopped' });
    expect((await indicator.process()).process.status).toBe('up');
  });

  it('marks a broker that was never started as down', async () => {
    const broker = new Broker(config);
    app = await indicatorContext({ provide: Broker, useValue: broker });
    const indicator = app.get(BrokerHealthIndicator);
    expect(indicator.brokerState().broker).toMatchObject({ status: 'down', state: 'new' });
    expect(indicator.listeners().listeners).toMatchObject({ status: 'down', default: { bound: false } });
    expect((await indicator.persistence()).persistence).toMatchObject({ status: 'down', message: 'broker new' });
  });
});
