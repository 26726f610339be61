import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, type HealthCheckResult } from '@nestjs/terminus';
import { PublicEndpoint } from './admin-token.guard';
import { BrokerHealthIndicator } from './broker.health';

/** Kubernetes-style probes: 200 when every indicator is up, 503 with the details otherwise. No token. */
@ApiTags('health')
@PublicEndpoint()
@Controller('health')
export class HealthController {
  constructor(
    @Inject(HealthCheckService) private readonly health: HealthCheckService,
    @Inject(BrokerHealthIndicator) private readonly indicators: BrokerHealthIndicator,
  ) {}

  @Get('live')
  @HealthCheck()
  @ApiOperation({ summary: 'Liveness: the process and its event loop answer' })
  live(): Promise<HealthCheckResult> {
    return this.health.check([() => this.indicators.process()]);
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: broker started and not shutting down, every listener bound, stores reachable; clustered: Redis reachable and this node a member' })
  @ApiOkResponse({ description: 'ready' })
  @ApiServiceUnavailableResponse({ description: 'not ready (starting, shutting down, a listener unbound, the stores unreachable, or clustered and Redis unreachable)' })
  ready(): Promise<HealthCheckResult> {
    return this.health.check([
      () => this.indicators.brokerState(),
      () => this.indicators.listeners(),
      () => this.indicators.persistence(),
      () => this.indicators.cluster(),
    ]);
  }
}
