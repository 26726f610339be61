import {
  BadRequestException,
  Controller,
  ServiceUnavailableException,
  DefaultValuePipe,
  Delete,
  Get,
  Inject,
  NotFoundException,
  Param,
  Query,
  UseInterceptors,
} from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Broker } from '../../core';
import { boolParam, intParam } from './admin-params';
import { AdminAuditInterceptor } from './audit.interceptor';
import { ClientDetailDto, ClientPageDto, ClientSummaryDto, DisconnectResultDto } from './dto/client-summary.dto';

export const MAX_PAGE_SIZE = 1000;

/** Connected clients: list (paged, filtered), one with its subscriptions, disconnect. */
@ApiTags('clients')
@ApiBearerAuth()
@UseInterceptors(AdminAuditInterceptor)
@Controller('api/v1/clients')
export class ClientsController {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  @Get()
  @ApiOperation({ summary: 'List connected clients, sorted by client id, with paging and filters' })
  @ApiQuery({ name: 'offset', required: false, type: Number, description: 'clients to skip (default 0)' })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `page size, 1..${MAX_PAGE_SIZE} (default 100)` })
  @ApiQuery({ name: 'clientIdPrefix', required: false, description: 'only client ids starting with this' })
  @ApiQuery({ name: 'username', required: false, description: 'only clients logged in with this username' })
  @ApiQuery({ name: 'listener', required: false, description: 'only clients of this listener' })
  @ApiOkResponse({ type: ClientPageDto, description: 'clustered: clients of every node, each with its `node`' })
  async list(
    @Query('offset', new DefaultValuePipe(0), intParam('offset')) offset: number,
    @Query('limit', new DefaultValuePipe(100), intParam('limit')) limit: number,
    @Query('clientIdPrefix') clientIdPrefix?: string,
    @Query('username') username?: string,
    @Query('listener') listener?: string,
  ): Promise<ClientPageDto> {
    if (offset < 0) throw new BadRequestException('offset: expected an integer >= 0');
    if (limit < 1 || limit > MAX_PAGE_SIZE) throw new BadRequestException(`limit: expected an integer from 1 to ${MAX_PAGE_SIZE}`);
    const cluster = this.broker.clusterClientList();
    if (cluster !== null) return this.clusterList(cluster, offset, limit, clientIdPrefix, username, listener);
    const matching = this.broker
      .clients()
      .filter(
        (c) =>
          (clientIdPrefix === undefined || c.clientId.startsWith(clientIdPrefix)) &&
          (username === undefined || c.username === username) &&
          (listener === undefined || c.listener === listener),
      )
      .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    return Object.assign(new ClientPageDto(), {
      total: matching.length,
      offset,
      limit,
      items: matching.slice(offset, offset + limit).map((c) => ClientSummaryDto.from(c)),
    });
  }

  /**
   * Clustered: the Redis directory of every node (this node's own clients with their full
   * snapshot). Cost: one HLEN and HSCAN pages per node, at most 10,000 entries read per node.
   */
  private async clusterList(
    pending: NonNullable<ReturnType<Broker['clusterClientList']>>,
    offset: number,
    limit: number,
    clientIdPrefix?: string,
    username?: string,
    listener?: string,
  ): Promise<ClientPageDto> {
    let listed: Awaited<typeof pending>;
    try {
      listed = await pending;
    } catch (err) {
      throw new ServiceUnavailableException(`cluster: redis: ${(err as Error).message}`);
    }
    const self = this.broker.cluster!.nodeId;
    const matching = listed.items
      .filter(
        (c) =>
          (clientIdPrefix === undefined || c.clientId.startsWith(clientIdPrefix)) &&
          (username === undefined || c.username === username) &&
          (listener === undefined || c.listener === listener),
      )
      .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : a.node < b.node ? -1 : 1));
    const filtered = clientIdPrefix !== undefined || username !== undefined || listener !== undefined;
    const items = matching.slice(offset, offset + limit).map((e) => {
      const local = e.node === self ? this.broker.client(e.clientId) : undefined;
      return local !== undefined ? Object.assign(ClientSummaryDto.from(local), { node: self }) : ClientSummaryDto.fromCluster(e);
    });
    return Object.assign(new ClientPageDto(), {
      total: filtered ? matching.length : Math.max(listed.total, matching.length),
      offset,
      limit,
      items,
      ...(listed.truncated ? { truncated: true } : {}),
    });
  }

  @Get(':clientId')
  @ApiOperation({ summary: 'One connected client, with its subscriptions' })
  @ApiParam({ name: 'clientId', description: 'URL-encoded client id' })
  @ApiOkResponse({ type: ClientDetailDto })
  @ApiNotFoundResponse({ description: 'no client with this id is connected' })
  get(@Param('clientId') clientId: string): ClientDetailDto {
    const c = this.broker.client(clientId);
    if (c === undefined) throw new NotFoundException(`no connected client ${JSON.stringify(clientId)}`);
    return ClientDetailDto.fromDetail(c);
  }

  @Delete(':clientId')
  @ApiOperation({
    summary: 'Disconnect a client (its Will is published); with discardSession=true also drop its session',
  })
  @ApiParam({ name: 'clientId', description: 'URL-encoded client id' })
  @ApiQuery({ name: 'discardSession', required: false, type: Boolean, description: 'also discard the session (default false)' })
  @ApiOkResponse({ type: DisconnectResultDto })
  @ApiNotFoundResponse({ description: 'no such client connected (and, with discardSession, no such session)' })
  disconnect(
    @Param('clientId') clientId: string,
    @Query('discardSession', new DefaultValuePipe(false), boolParam('discardSession')) discardSession: boolean,
  ): Promise<DisconnectResultDto> | DisconnectResultDto {
    if (this.broker.cluster !== null && !discardSession) return this.clusterDisconnect(clientId);
    const wasConnected = this.broker.client(clientId) !== undefined;
    if (!this.broker.disconnectClient(clientId, discardSession)) {
      throw new NotFoundException(`no connected client${discardSession ? ' or session' : ''} ${JSON.stringify(clientId)}`);
    }
    return Object.assign(new DisconnectResultDto(), { clientId, disconnected: wasConnected, sessionDiscarded: discardSession });
  }

  /** Clustered: this node's client, or the lease owner's (asked through Redis: it closes it with 0x98). */
  private async clusterDisconnect(clientId: string): Promise<DisconnectResultDto> {
    let node: string | null;
    try {
      node = await this.broker.disconnectClusterClient(clientId);
    } catch (err) {
      throw new ServiceUnavailableException(`cluster: redis: ${(err as Error).message}`);
    }
    if (node === null) throw new NotFoundException(`no connected client ${JSON.stringify(clientId)} on any node`);
    return Object.assign(new DisconnectResultDto(), { clientId, disconnected: true, sessionDiscarded: false, node });
  }
}
