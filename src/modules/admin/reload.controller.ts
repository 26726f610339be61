import { Controller, HttpCode, Inject, Post, ServiceUnavailableException } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import type { ReloadReport } from '../../core';
import { ReloadService } from './reload.service';

export class ReloadFailureDto {
  @ApiProperty({ example: 'users' }) part!: string;
  @ApiProperty({ example: 'auth.password-file: cannot read /etc/nestmq/passwd, keeping the previous users: ENOENT' }) error!: string;
}

/** POST /api/v1/reload: what each part did. A failed part keeps its previous state. */
export class ReloadReportDto {
  @ApiProperty({ example: ['users', 'acl', 'tls:mqtts'], description: 'parts whose files changed and were taken' }) reloaded!: string[];
  @ApiProperty({ example: ['acl-file'], description: 'parts whose files are as they were' }) unchanged!: string[];
  @ApiProperty({ type: [ReloadFailureDto], description: 'parts that kept their previous state, with why' }) failed!: ReloadFailureDto[];

  static from(report: ReloadReport): ReloadReportDto {
    return Object.assign(new ReloadReportDto(), {
      reloaded: [...report.reloaded],
      unchanged: [...report.unchanged],
      failed: report.failed.map((f) => Object.assign(new ReloadFailureDto(), f)),
    });
  }
}

@ApiTags('broker')
@ApiBearerAuth()
@Controller('api/v1/reload')
export class ReloadController {
  constructor(@Inject(ReloadService) private readonly reloads: ReloadService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Reload users (password file), ACLs (the config file\'s inline topic-check.acl, the acl-file) and TLS certificates, as on SIGHUP; ' +
      'nobody is disconnected, a failed part keeps its previous state',
  })
  @ApiOkResponse({ type: ReloadReportDto })
  async reload(): Promise<ReloadReportDto> {
    const report = this.reloads.request('admin API');
    if (report === null) throw new ServiceUnavailableException('reload is not available in this process');
    return ReloadReportDto.from(await report);
  }
}
