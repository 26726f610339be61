import {
  BadRequestException,
  Body,
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
import { ApiBadRequestResponse, ApiBearerAuth, ApiBody, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Broker } from '../../core';
import { isValidTopicFilter, isValidTopicName } from '../../core/topics/topic-validation';
import { bodyObject, intParam, MAX_PAGE_SIZE, pageParams, payloadViews, qosParam, stringParam } from './admin-params';
import { AdminAuditInterceptor } from './audit.interceptor';
import { PublishDto, PublishResultDto, RetainedMessageDto, RetainedPageDto } from './dto/operations.dto';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function retainedDto(m: { topic: string; payload: Buffer; qos: number }): RetainedMessageDto {
  return Object.assign(new RetainedMessageDto(), { topic: m.topic, qos: m.qos, ...payloadViews(m.payload) });
}

/** Retained messages (browse by filter, get, delete) and publishing as an operator. */
@ApiTags('messages')
@ApiBearerAuth()
@UseInterceptors(AdminAuditInterceptor)
@Controller('api/v1')
export class RetainedController {
  constructor(@Inject(Broker) private readonly broker: Broker) {}

  @Get('retained')
  @ApiOperation({ summary: 'Retained messages whose topic matches an MQTT filter (+ and #; a leading wildcard skips $ topics), paged' })
  @ApiQuery({ name: 'filter', required: false, description: "MQTT topic filter (default '#')" })
  @ApiQuery({ name: 'offset', required: false, type: Number })
  @ApiQuery({ name: 'limit', required: false, type: Number, description: `1..${MAX_PAGE_SIZE} (default 100)` })
  @ApiOkResponse({ type: RetainedPageDto })
  @ApiBadRequestResponse({ description: 'invalid filter, offset or limit' })
  list(
    @Query('filter', new DefaultValuePipe('#')) filter: string,
    @Query('offset', new DefaultValuePipe(0), intParam('offset')) offsetIn: number,
    @Query('limit', new DefaultValuePipe(100), intParam('limit')) limitIn: number,
  ): RetainedPageDto {
    const { offset, limit } = pageParams(offsetIn, limitIn);
    if (typeof filter !== 'string' || !isValidTopicFilter(filter)) throw new BadRequestException(`filter: ${JSON.stringify(filter)} is not a valid topic filter`);
    const page = this.broker.retainedPage(filter, offset, limit);
    return Object.assign(new RetainedPageDto(), { filter, offset, limit, next: page.next, items: page.items.map(retainedDto) });
  }

  @Get('retained/:topic')
  @ApiOperation({ summary: 'The retained message of one topic' })
  @ApiParam({ name: 'topic', description: 'URL-encoded topic name (a/b is a%2Fb)' })
  @ApiOkResponse({ type: RetainedMessageDto })
  @ApiNotFoundResponse({ description: 'the topic has no retained message' })
  get(@Param('topic') topic: string): RetainedMessageDto {
    const m = this.broker.retainedMessage(topic);
    if (m === undefined) throw new NotFoundException(`no retained message on ${JSON.stringify(topic)}`);
    return retainedDto(m);
  }

  @Delete('retained/:topic')
  @ApiOperation({ summary: 'Delete the retained message of one topic (as an empty retained PUBLISH would, delivering nothing)' })
  @ApiParam({ name: 'topic', description: 'URL-encoded topic name' })
  @ApiOkResponse({ schema: { example: { topic: 'a/b', deleted: true } } })
  @ApiNotFoundResponse({ description: 'the topic has no retained message' })
  remove(@Param('topic') topic: string): { topic: string; deleted: boolean } {
    if (!this.broker.deleteRetained(topic)) throw new NotFoundException(`no retained message on ${JSON.stringify(topic)}`);
    return { topic, deleted: true };
  }

  @Post('publish')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Publish a message as the broker (no publisher client, no authorization): routed to every matching subscription, ' +
      'stored when retain is set. Topics starting with $ ($SYS) are refused.',
  })
  @ApiBody({ type: PublishDto })
  @ApiOkResponse({ type: PublishResultDto })
  @ApiBadRequestResponse({ description: 'invalid topic, payload, QoS or retain; a $ topic' })
  publish(@Body() raw: unknown): PublishResultDto {
    const body = bodyObject(raw);
    const topic = stringParam(body.topic, 'topic');
    if (!isValidTopicName(topic)) throw new BadRequestException(`topic: ${JSON.stringify(topic)} is not a valid topic name (no + or #)`);
    // [MQTT-4.7.2-1] $ topics are the server's own ($SYS): an operator does not write there.
    if (topic.startsWith('$')) throw new BadRequestException('topic: topics starting with $ are reserved to the broker');
    const limits = this.broker.config.limits;
    if (Buffer.byteLength(topic) > limits.maxTopicLength) throw new BadRequestException(`topic: longer than max-topic-length (${limits.maxTopicLength})`);
    if (body.payload !== undefined && body.payloadBase64 !== undefined) throw new BadRequestException('give payload or payloadBase64, not both');
    let payload: Buffer;
    if (body.payloadBase64 !== undefined) {
      if (typeof body.payloadBase64 !== 'string' || !BASE64.test(body.payloadBase64)) throw new BadRequestException('payloadBase64: expected base64');
      payload = Buffer.from(body.payloadBase64, 'base64');
    } else {
      if (body.payload !== undefined && typeof body.payload !== 'string') throw new BadRequestException('payload: expected a string');
      payload = Buffer.from((body.payload as string | undefined) ?? '', 'utf8');
    }
    if (payload.length > limits.maxPacketSize) throw new BadRequestException(`payload: larger than max-packet-size (${limits.maxPacketSize})`);
    const qos = qosParam(body.qos, 'qos', 0);
    if (body.retain !== undefined && typeof body.retain !== 'boolean') throw new BadRequestException('retain: expected true or false');
    const retain = body.retain === true;
    this.broker.publishInternal(topic, payload, retain, qos);
    return Object.assign(new PublishResultDto(), { topic, size: payload.length, qos, retain });
  }
}
