import {
  BadRequestException,
  Body,
  ConflictException,
  Controller,
  DefaultValuePipe,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  UseInterceptors,
} from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import { Broker } from '../../core';
import { bodyObject, boolParam, byKey, intParam, MAX_PAGE_SIZE, pageParams, qosParam, stringParam } from './admin-params';
import { AdminAuditInterceptor } from './audit.interceptor';
import {
  AddSubscriptionDto,
  AddSubscriptionResultDto,
  SessionDetailDto,
  SessionPageDto,
  SessionSummaryDto,
  SubscriptionEntryDto,
  SubscriptionPageDto,
} from './dto/operations.dto';

/**
 * Sessions, offline ones included, and their subscriptions. A subscription added here is the
 * administrator's decision: it is not put to the authorization plugins (authorizeSubscribe), but
 * each delivery still passes the client's read ACL, as for any subscription.
 */
@ApiTags('sessions')
@ApiBearerAuth()
@UseInterceptors(AdminAuditInterceptor)
@Controller('api/v1')
export class SessionsController {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  @Get('sessions')
  @ApiOperation({ summary: 'List sessions (connected and offline), sorted by client id, paged' })
  @ApiQuery({ name: 'offset', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1..${MAX_PAGE_SIZE} (default 100)` })
  @ApiQuery({ name: 'clientIdPrefix', required: false })
  @ApiQuery({ name: 'connected', required: false, type: Boolean, description: 'only connected (true) or offline (false) sessions' })
  @ApiOkResponse({ type: SessionPageDto })
  list(
    @Query('offset', new DefaultValuePipe(0), intParam('offset')) offsetIn: number,
    @Query('limit', new DefaultValuePipe(100), intParam('limit')) limitIn: number,
    @Query('clientIdPrefix') clientIdPrefix?: string,
    @Query('connected', new DefaultValuePipe(undefined), boolParam('connected', true)) connected?: boolean,
  ): SessionPageDto {
    const { offset, limit } = pageParams(offsetIn, limitIn);
    const matching = this.broker
      .sessionList()
      .filter((s) => (clientIdPrefix === undefined || s.clientId.startsWith(clientIdPrefix)) && (connected === undefined || s.connected === connected))
      .sort(byKey((s) => s.clientId));
    return Object.assign(new SessionPageDto(), {
      total: matching.length,
      offset,
      limit,
      items: matching.slice(offset, offset + limit).map((s) => SessionSummaryDto.from(s)),
    });
  }

  @Get('sessions/:clientId')
  @ApiOperation({ summary: 'One session: subscriptions, in-flight and queued counts, expiry' })
  @ApiParam({ name: 'clientId', description: 'URL-encoded client id' })
  @ApiOkResponse({ type: SessionDetailDto })
  @ApiNotFoundResponse({ description: 'no session with this client id' })
  get(@Param('clientId') clientId: string): SessionDetailDto {
    const s = this.broker.session(clientId);
    if (s === undefined) throw new NotFoundException(`no session ${JSON.stringify(clientId)}`);
    return SessionDetailDto.fromDetail(s);
  }

  @Delete('sessions/:clientId')
  @ApiOperation({ summary: 'Delete a session (its subscriptions and queued messages); a connected client is disconnected first (its Will is published)' })
  @ApiParam({ name: 'clientId', description: 'URL-encoded client id' })
  @ApiOkResponse({ description: 'deleted', schema: { example: { clientId: 'sensor-42', deleted: true, disconnected: false } } })
  @ApiNotFoundResponse({ description: 'no session with this client id' })
  remove(@Param('clientId') clientId: string): { clientId: string; deleted: boolean; disconnected: boolean } {
    const s = this.broker.session(clientId);
    if (s === undefined) throw new NotFoundException(`no session ${JSON.stringify(clientId)}`);
    this.broker.disconnectClient(clientId, true);
    return { clientId, deleted: true, disconnected: s.connected };
  }

  @Get('subscriptions')
  @ApiOperation({ summary: 'Every subscription of every session, sorted by client id then filter, paged' })
  @ApiQuery({ name: 'offset', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1..${MAX_PAGE_SIZE} (default 100)` })
  @ApiQuery({ name: 'filterPrefix', required: false, description: 'only filters starting with this' })
  @ApiQuery({ name: 'clientIdPrefix', required: false })
  @ApiOkResponse({ type: SubscriptionPageDto })
  subscriptions(
    @Query('offset', new DefaultValuePipe(0), intParam('offset')) offsetIn: number,
    @Query('limit', new DefaultValuePipe(100), intParam('limit')) limitIn: number,
    @Query('filterPrefix') filterPrefix?: string,
    @Query('clientIdPrefix') clientIdPrefix?: string,
  ): SubscriptionPageDto {
    const { offset, limit } = pageParams(offsetIn, limitIn);
    const matching = this.broker
      .subscriptionList()
      .filter((s) => (filterPrefix === undefined || s.filter.startsWith(filterPrefix)) && (clientIdPrefix === undefined || s.clientId.startsWith(clientIdPrefix)))
      .sort((a, b) => byKey<SubscriptionEntryDto>((s) => s.clientId)(a, b) || byKey<SubscriptionEntryDto>((s) => s.filter)(a, b));
    return Object.assign(new SubscriptionPageDto(), {
      total: matching.length,
      offset,
      limit,
      items: matching.slice(offset, offset + limit).map((s) => Object.assign(new SubscriptionEntryDto(), s)),
    });
  }

  @Get('sessions/:clientId/subscriptions')
  @ApiOperation({ summary: "One session's subscriptions, sorted by filter, paged" })
  @ApiParam({ name: 'clientId', description: 'URL-encoded client id' })
  @ApiQuery({ name: 'offset', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1..${MAX_PAGE_SIZE} (default 100)` })
  @ApiQuery({ name: 'filterPrefix', required: false })
  @ApiOkResponse({ type: SubscriptionPageDto })
  @ApiNotFoundResponse({ description: 'no session with this client id' })
  clientSubscriptions(
    @Param('clientId') clientId: string,
    @Query('offset', new DefaultValuePipe(0), intParam('offset')) offsetIn: number,
    @Query('limit', new DefaultValuePipe(100), intParam('limit')) limitIn: number,
    @Query('filterPrefix') filterPrefix?: string,
  ): SubscriptionPageDto {
    const { offset, limit } = pageParams(offsetIn, limitIn);
    const s = this.broker.session(clientId);
    if (s === undefined) throw new NotFoundException(`no session ${JSON.stringify(clientId)}`);
    const matching = s.subscriptionList.filter((x) => filterPrefix === undefined || x.filter.startsWith(filterPrefix)).sort(byKey((x) => x.filter));
    return Object.assign(new SubscriptionPageDto(), {
      total: matching.length,
      offset,
      limit,
      items: matching.slice(offset, offset + limit).map((x) => Object.assign(new SubscriptionEntryDto(), { clientId, ...x })),
    });
  }

  @Post('sessions/:clientId/subscriptions')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Subscribe a session (connected or offline) to a filter, as its own SUBSCRIBE would, retained messages included. ' +
      'The administrator is trusted: no authorizeSubscribe (deliveries still pass the read ACL).',
  })
  @ApiParam({ name: 'clientId', description: 'URL-encoded client id' })
  @ApiBody({ type: AddSubscriptionDto })
  @ApiOkResponse({ type: AddSubscriptionResultDto })
  @ApiBadRequestResponse({ description: 'invalid filter or QoS' })
  @ApiNotFoundResponse({ description: 'no session with this client id' })
  @ApiConflictResponse({ description: 'the session holds max-subscriptions already' })
  subscribe(@Param('clientId') clientId: string, @Body() raw: unknown): AddSubscriptionResultDto {
    const body = bodyObject(raw);
    const filter = stringParam(body.filter, 'filter');
    const qos = qosParam(body.qos);
    const r = this.broker.addSubscription(clientId, filter, qos);
    if (!r.ok) {
      if (r.reason === 'no-session') throw new NotFoundException(`no session ${JSON.stringify(clientId)}`);
      if (r.reason === 'invalid-filter') throw new BadRequestException(`filter: ${JSON.stringify(filter)} is not a valid topic filter within the topic limits`);
      throw new ConflictException(`the session holds max-subscriptions (${this.broker.config.limits.maxSubscriptions}) already`);
    }
    return Object.assign(new AddSubscriptionResultDto(), { clientId, filter, qos, created: r.created, retainedQueued: r.retainedQueued });
  }

  @Delete('sessions/:clientId/subscriptions')
  @ApiOperation({ summary: 'Remove one subscription of a session, as UNSUBSCRIBE would (identical filter)' })
  @ApiParam({ name: 'clientId', description: 'URL-encoded client id' })
  @ApiQuery({ name: 'filter', required: true, description: 'the exact filter (URL-encoded)' })
  @ApiOkResponse({ schema: { example: { clientId: 'sensor-42', filter: 'a/#', removed: true } } })
  @ApiNotFoundResponse({ description: 'no such session, or it has no subscription with this filter' })
  unsubscribe(@Param('clientId') clientId: string, @Query('filter') filter?: string): { clientId: string; filter: string; removed: boolean } {
    const f = stringParam(filter, 'filter');
    if (this.broker.session(clientId) === undefined) throw new NotFoundException(`no session ${JSON.stringify(clientId)}`);
    if (!this.broker.removeSubscription(clientId, f)) throw new NotFoundException(`session ${JSON.stringify(clientId)} has no subscription ${JSON.stringify(f)}`);
    return { clientId, filter: f, removed: true };
  }
}
