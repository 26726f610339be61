import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Broker } from '../../core';
import { BrokerStatsDto } from './dto/stats.dto';

@ApiTags('broker')
@ApiBearerAuth()
@Controller('api/v1/stats')
export class StatsController {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  @Get()
  @ApiOperation({ summary: 'Broker figures: connections, sessions, subscriptions, retained, messages and bytes, uptime' })
  @ApiOkResponse({ type: BrokerStatsDto })
  stats(): BrokerStatsDto {
    return BrokerStatsDto.from(this.broker);
  }
}
