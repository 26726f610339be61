import type { ServerResponse } from 'node:http';
import { BadRequestException, Controller, Get, HttpException, HttpStatus, Inject, Query, Res, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiQuery, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { isValidTopicFilter } from '../../core/topics/topic-validation';
import { AdminAuditInterceptor } from './audit.interceptor';
import { TRACER_BUFFER_BYTES, TracerService } from './tracer.service';

@ApiTags('messages')
@ApiBearerAuth()
@UseInterceptors(AdminAuditInterceptor)
@Controller('api/v1/trace')
export class TracerController {
  constructor(@Inject(TracerService) private readonly tracers: TracerService) {}

  @Get()
  @ApiOperation({
    summary:
      'Live message tracer: every message published on a topic matching the filter, as Server-Sent Events ' +
      '(events open, message, stats). Read it with fetch() and the bearer header (EventSource cannot send one). ' +
      `The administrator sees every message (no ACL). At most admin.max-tracers at once; ${TRACER_BUFFER_BYTES} bytes ` +
      'unsent per stream, beyond which messages are dropped and counted (the dropped field).',
  })
  @ApiQuery({ name: 'filter', required: false, description: "MQTT topic filter (default '#')" })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'the event stream' })
  @ApiTooManyRequestsResponse({ description: 'admin.max-tracers streams are open (or tracing is off)' })
  trace(@Query('filter') filter: string | undefined, @Res() res: ServerResponse): void {
    const f = filter ?? '#';
    if (typeof f !== 'string' || !isValidTopicFilter(f)) throw new BadRequestException(`filter: ${JSON.stringify(f)} is not a valid topic filter`);
    if (!this.tracers.start(f, res)) {
      throw new HttpException(`admin.max-tracers tracers are open already: close one (or raise the limit)`, HttpStatus.TOO_MANY_REQUESTS);
    }
  }
}
