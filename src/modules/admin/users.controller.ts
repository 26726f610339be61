import { BadRequestException, Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Put, UseInterceptors } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { bodyObject, stringParam } from './admin-params';
import { AdminAuditInterceptor } from './audit.interceptor';
import { ChangePasswordDto, CreateUserDto, UserChangeResultDto, UserDto, UserListDto } from './dto/operations.dto';
import { type PasswordScheme, UsersService } from './users.service';

function schemeParam(value: unknown): PasswordScheme {
  if (value === undefined || value === 'bcrypt') return 'bcrypt';
  if (value === 'scram-sha-256') return 'scram-sha-256';
  throw new BadRequestException("scheme: expected 'bcrypt' or 'scram-sha-256'");
}

const NO_FILE = 'no password file is configured (auth.password-file)';

/**
 * Users of the password file (auth.password-file): names and hash schemes, never hashes; every
 * change is written atomically (mode 0600) and the auth plugins reload at once.
 */
@ApiTags('users')
@ApiBearerAuth()
@UseInterceptors(AdminAuditInterceptor)
@Controller('api/v1/users')
export class UsersController {
  constructor(@Inject(UsersService) private readonly users: UsersService) {}

  @Get()
  @ApiOperation({ summary: 'Users of the password file with their hash scheme (never the hashes)' })
  @ApiOkResponse({ type: UserListDto })
  @ApiConflictResponse({ description: NO_FILE })
  async list(): Promise<UserListDto> {
    const file = this.users.file();
    const items = (await this.users.list()).map((u) => Object.assign(new UserDto(), u));
    return Object.assign(new UserListDto(), { file, items });
  }

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Add a user (bcrypt, or SCRAM-SHA-256), then reload authentication' })
  @ApiBody({ type: CreateUserDto })
  @ApiOkResponse({ type: UserChangeResultDto })
  @ApiConflictResponse({ description: `the user exists already; or ${NO_FILE}` })
  @ApiUnprocessableEntityResponse({ description: 'a username or password the file cannot hold' })
  async create(@Body() raw: unknown): Promise<UserChangeResultDto> {
    const body = bodyObject(raw);
    const username = stringParam(body.username, 'username');
    const password = stringParam(body.password, 'password');
    const { warning } = await this.users.setPassword(username, password, schemeParam(body.scheme), 'create');
    return Object.assign(new UserChangeResultDto(), { username, result: 'created', warning });
  }

  @Put(':username')
  @ApiOperation({ summary: "Change a user's password, then reload authentication" })
  @ApiParam({ name: 'username', description: 'URL-encoded username' })
  @ApiBody({ type: ChangePasswordDto })
  @ApiOkResponse({ type: UserChangeResultDto })
  @ApiNotFoundResponse({ description: 'no such user' })
  @ApiConflictResponse({ description: NO_FILE })
  async change(@Param('username') username: string, @Body() raw: unknown): Promise<UserChangeResultDto> {
    const body = bodyObject(raw);
    const password = stringParam(body.password, 'password');
    const { warning } = await this.users.setPassword(username, password, schemeParam(body.scheme), 'update');
    return Object.assign(new UserChangeResultDto(), { username, result: 'updated', warning });
  }

  @Delete(':username')
  @ApiOperation({ summary: 'Delete a user, then reload authentication (connected clients stay connected)' })
  @ApiParam({ name: 'username', description: 'URL-encoded username' })
  @ApiOkResponse({ type: UserChangeResultDto })
  @ApiNotFoundResponse({ description: 'no such user' })
  @ApiConflictResponse({ description: NO_FILE })
  async remove(@Param('username') username: string): Promise<UserChangeResultDto> {
    await this.users.delete(username);
    return Object.assign(new UserChangeResultDto(), { username, result: 'deleted', warning: null });
  }
}
