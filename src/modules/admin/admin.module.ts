import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { BrokerModule } from '../broker/broker.module';
import { AdminTokenGuard } from './admin-token.guard';
import { BrokerHealthIndicator } from './broker.health';
import { ClientsController } from './clients.controller';
import { DashboardController } from './dashboard.controller';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { MetricsService } from './metrics.service';
import { ReloadController } from './reload.controller';
import { ReloadService } from './reload.service';
import { RetainedController } from './retained.controller';
import { SessionsController } from './sessions.controller';
import { ShutdownController } from './shutdown.controller';
import { ShutdownService } from './shutdown.service';
import { StatsController } from './stats.controller';
import { TracerController } from './tracer.controller';
import { TracerService } from './tracer.service';
import { UsersController } from './users.controller';
import { UsersService } from './users.service';

/** Sessions, subscriptions, retained messages, publish, users, the tracer and the dashboard. */
const OPERATIONS_CONTROLLERS = [SessionsController, RetainedController, UsersController, TracerController, DashboardController];
const OPERATIONS_PROVIDERS = [UsersService, TracerService];

/**
 * The admin HTTP surface beside the MQTT listeners: health probes, Prometheus metrics and the
 * REST API under /api/v1 (OpenAPI at /api/docs, see openapi.ts). Every route needs the admin
 * token unless marked @PublicEndpoint() (health, metrics).
 */
@Module({
  // Failed probes are answered (503 with details) rather than logged: shutdown makes them normal.
  imports: [BrokerModule, TerminusModule.forRoot({ logger: false })],
  controllers: [HealthController, MetricsController, ClientsController, StatsController, ShutdownController, ReloadController, ...OPERATIONS_CONTROLLERS],
  providers: [BrokerHealthIndicator, MetricsService, ShutdownService, ReloadService, { provide: APP_GUARD, useClass: AdminTokenGuard }, ...OPERATIONS_PROVIDERS],
  exports: [ShutdownService, ReloadService],
})
export class AdminModule {}
