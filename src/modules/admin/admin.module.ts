import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { BrokerModule } from '../broker/broker.module';
import { AdminTokenGuard } from './admin-token.guard';
import { BrokerHealthIndicator } from './broker.health';
import { ClientsController } from './clients.controller';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { ReloadController } from './reload.controller';
import { ReloadService } from './reload.service';
import { ShutdownController } from './shutdown.controller';
import { ShutdownService } from './shutdown.service';
import { StatsController } from './stats.controller';

/**
 * The admin HTTP surface beside the MQTT listeners: health probes, Prometheus metrics and the
 * REST API under /api/v1 (OpenAPI at /api/docs, see openapi.ts). Every route needs the admin
 * token unless marked @PublicEndpoint() (health, metrics).
 */
@Module({
  // Failed probes are answered (503 with details) rather than logged: shutdown makes them normal.
  imports: [BrokerModule, TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController, MetricsController, ClientsController, StatsController, ShutdownController, ReloadController],
  providers: [BrokerHealthIndicator, MetricsService, ShutdownService, ReloadService, { provide: APP_GUARD, useClass: AdminTokenGuard }],
  exports: [ShutdownService, ReloadService],
})
export class AdminModule {}
