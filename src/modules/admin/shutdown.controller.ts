import { Controller, HttpCode, Inject, Post, ServiceUnavailableException } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { BrokerConfig } from '../../core';
import { BROKER_CONFIG } from '../tokens';
import { ShutdownAcceptedDto } from './dto/stats.dto';
import { ShutdownService } from './shutdown.service';

@ApiTags('broker')
@ApiBearerAuth()
@Controller('api/v1/shutdown')
export class ShutdownController {
  constructor(
    @Inject(ShutdownService) private readonly shutdown: ShutdownService,
    @Inject(BROKER_CONFIG) private readonly config: BrokerConfig,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Graceful shutdown, as on SIGTERM: readiness 503, listeners closed, state flushed, clients closed, exit 0',
  })
  @ApiAcceptedResponse({ type: ShutdownAcceptedDto, description: 'answered before the shutdown begins' })
  request(): ShutdownAcceptedDto {
    if (!this.shutdown.request('admin API')) throw new ServiceUnavailableException('shutdown is not available in this process');
    return Object.assign(new ShutdownAcceptedDto(), { status: 'shutting down', gracePeriodSeconds: this.config.shutdownGracePeriod });
  }
}
