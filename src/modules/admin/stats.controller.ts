import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiExtraModels, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Broker } from '../../core';
import { BrokerStatsDto, ClusterBrokerStatsDto, NodeStatsDto } from './dto/stats.dto';

@ApiTags('broker')
@ApiBearerAuth()
@ApiExtraModels(NodeStatsDto)
@Controller('api/v1/stats')
export class StatsController {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  @Get()
  @ApiOperation({ summary: 'Broker figures: connections, sessions, subscriptions, retained, messages and bytes, uptime' })
  @ApiOkResponse({ type: ClusterBrokerStatsDto, description: 'clustered: also `node`, `nodes` (every member\'s latest snapshot in Redis) and `cluster` totals' })
  async stats(): Promise<BrokerStatsDto> {
    const own = BrokerStatsDto.from(this.broker);
    const pending = this.broker.clusterNodeStats();
    if (pending === null) return own;
    // Redis unreachable: this node's figures alone, `nodes` empty (the totals say 0 nodes).
    const nodes = (await pending.catch(() => ({}))) as Record<string, NodeStatsDto | null>;
    return Object.assign(new ClusterBrokerStatsDto(), own, { node: this.broker.cluster!.nodeId, nodes, cluster: ClusterBrokerStatsDto.totals(nodes as unknown as Record<string, Record<string, number> | null>) });
  }
}
