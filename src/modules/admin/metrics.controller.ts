import { Controller, Get, Header, Inject } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { prometheusContentType } from 'prom-client';
import { PublicEndpoint } from './admin-token.guard';
import { MetricsService } from './metrics.service';

/** Prometheus text exposition, open like the health probes so a scraper needs no token. */
@ApiTags('metrics')
@PublicEndpoint()
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(MetricsService) private readonly metrics: MetricsService) {}

  @Get()
  @Header('Content-Type', prometheusContentType)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics: broker figures and the default process metrics' })
  @ApiProduces(prometheusContentType)
  @ApiOkResponse({ description: 'Prometheus text format 0.0.4', schema: { type: 'string' } })
  scrape(): Promise<string> {
    return this.metrics.metrics();
  }
}
