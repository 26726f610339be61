import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { SessionDetail, SessionSnapshot } from '../../../core';
import { SubscriptionDto } from './client-summary.dto';

/** One session, connected or offline: GET /api/v1/sessions. */
export class SessionSummaryDto {
  @ApiProperty({ example: 'sensor-42' })
  clientId!: string;

  @ApiProperty({ example: false, description: 'a client is connected to the session now' })
  connected!: boolean;

  @ApiProperty({ example: false, description: 'CleanSession=1: the session ends with its connection' })
  clean!: boolean;

  @ApiProperty({ type: String, nullable: true, example: 'alice', description: 'username that last attached (null: anonymous or not yet known)' })
  username!: string | null;

  @ApiProperty({ example: 2 })
  subscriptions!: number;

  @ApiProperty({ example: 0, description: 'outbound QoS 1/2 messages awaiting acknowledgement' })
  inflight!: number;

  @ApiProperty({ example: 12, description: 'messages queued for the client' })
  queued!: number;

  @ApiProperty({ example: 2048, description: 'payload bytes queued' })
  queuedBytes!: number;

  @ApiProperty({ type: String, nullable: true, format: 'date-time', description: 'last disconnect (null while connected)' })
  disconnectedAt!: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time', description: 'when session-expiry removes it if its client stays away (null: connected, clean, or no expiry)' })
  expiresAt!: string | null;

  @ApiProperty({ type: Number, nullable: true, enum: [3, 4, 5], example: 5, description: 'protocol level of the connected client: 3 = MQTT 3.1, 4 = 3.1.1, 5 = 5.0 (null while offline)' })
  protocolLevel!: number | null;

  static from(s: SessionSnapshot): SessionSummaryDto {
    return Object.assign(new SessionSummaryDto(), {
      clientId: s.clientId,
      connected: s.connected,
      clean: s.clean,
      username: s.username ?? null,
      subscriptions: s.subscriptions,
      inflight: s.inflight,
      queued: s.queued,
      queuedBytes: s.queuedBytes,
      disconnectedAt: s.disconnectedAt === 0 ? null : new Date(s.disconnectedAt).toISOString(),
      expiresAt: s.expiresAt === null ? null : new Date(s.expiresAt).toISOString(),
      protocolLevel: s.protocolLevel,
    });
  }
}

export class SessionDetailDto extends SessionSummaryDto {
  @ApiProperty({ type: [SubscriptionDto] })
  subscriptionList!: SubscriptionDto[];

  static fromDetail(s: SessionDetail): SessionDetailDto {
    const dto = Object.assign(new SessionDetailDto(), SessionSummaryDto.from(s));
    dto.subscriptionList = s.subscriptionList.map((x) => Object.assign(new SubscriptionDto(), x));
    return dto;
  }
}

export class SessionPageDto {
  @ApiProperty({ example: 1234 })
  total!: number;
  @ApiProperty({ example: 0 })
  offset!: number;
  @ApiProperty({ example: 100 })
  limit!: number;
  @ApiProperty({ type: [SessionSummaryDto], description: 'sorted by client id' })
  items!: SessionSummaryDto[];
}

export class SubscriptionEntryDto {
  @ApiProperty({ example: 'sensor-42' })
  clientId!: string;
  @ApiProperty({ example: 'sensors/+/temperature' })
  filter!: string;
  @ApiProperty({ enum: [0, 1, 2], example: 1 })
  qos!: number;
}

export class SubscriptionPageDto {
  @ApiProperty({ example: 3 })
  total!: number;
  @ApiProperty({ example: 0 })
  offset!: number;
  @ApiProperty({ example: 100 })
  limit!: number;
  @ApiProperty({ type: [SubscriptionEntryDto], description: 'sorted by client id, then filter' })
  items!: SubscriptionEntryDto[];
}

export class AddSubscriptionDto {
  @ApiProperty({ example: 'sensors/+/temperature', description: 'MQTT topic filter (+ and # allowed)' })
  filter!: string;
  @ApiProperty({ enum: [0, 1, 2], example: 1 })
  qos!: number;
}

export class AddSubscriptionResultDto {
  @ApiProperty({ example: 'sensor-42' })
  clientId!: string;
  @ApiProperty({ example: 'sensors/+/temperature' })
  filter!: string;
  @ApiProperty({ enum: [0, 1, 2], example: 1 })
  qos!: number;
  @ApiProperty({ example: true, description: 'false: an identical filter was replaced (its QoS updated)' })
  created!: boolean;
  @ApiProperty({ example: 0, description: 'retained messages queued into an offline session (a connected client gets them as after SUBSCRIBE)' })
  retainedQueued!: number;
}

export class RetainedMessageDto {
  @ApiProperty({ example: 'sensors/kitchen/temperature' })
  topic!: string;
  @ApiProperty({ enum: [0, 1, 2], example: 1 })
  qos!: number;
  @ApiProperty({ example: 4, description: 'payload bytes' })
  size!: number;
  @ApiProperty({ example: 'MjEuNQ==' })
  payloadBase64!: string;
  @ApiProperty({ type: String, nullable: true, example: '21.5', description: 'the payload as text, null when it is not valid UTF-8' })
  payloadUtf8!: string | null;
}

export class RetainedPageDto {
  @ApiProperty({ example: 'sensors/#' })
  filter!: string;
  @ApiProperty({ example: 0 })
  offset!: number;
  @ApiProperty({ example: 100 })
  limit!: number;
  @ApiProperty({ type: Number, nullable: true, example: 100, description: 'offset of the next page; null on the last page' })
  next!: number | null;
  @ApiProperty({ type: [RetainedMessageDto], description: 'in topic-tree order' })
  items!: RetainedMessageDto[];
}

export class PublishDto {
  @ApiProperty({ example: 'alerts/ops', description: 'a topic name (no wildcards); topics starting with $ are refused' })
  topic!: string;
  @ApiPropertyOptional({ example: 'maintenance at 22:00', description: 'payload as text (UTF-8); or give payloadBase64' })
  payload?: string;
  @ApiPropertyOptional({ example: 'bWFpbnRlbmFuY2U=', description: 'payload as base64, for binary payloads' })
  payloadBase64?: string;
  @ApiPropertyOptional({ enum: [0, 1, 2], default: 0 })
  qos?: number;
  @ApiPropertyOptional({ default: false, description: 'store as the retained message of the topic (an empty payload deletes it)' })
  retain?: boolean;
}

export class PublishResultDto {
  @ApiProperty({ example: 'alerts/ops' })
  topic!: string;
  @ApiProperty({ example: 20 })
  size!: number;
  @ApiProperty({ enum: [0, 1, 2] })
  qos!: number;
  @ApiProperty()
  retain!: boolean;
}

export class UserDto {
  @ApiProperty({ example: 'alice' })
  username!: string;
  @ApiProperty({
    type: String,
    nullable: true,
    example: 'bcrypt',
    description: 'bcrypt, scram-sha-256, sha512-crypt, mosquitto-sha512, mosquitto-pbkdf2; null for a plain-text line',
  })
  scheme!: string | null;
}

export class UserListDto {
  @ApiProperty({ example: '/etc/nestmq/passwd' })
  file!: string;
  @ApiProperty({ type: [UserDto] })
  items!: UserDto[];
}

export class CreateUserDto {
  @ApiProperty({ example: 'alice' })
  username!: string;
  @ApiProperty({ example: 's3cret-passw0rd', description: 'never logged nor returned' })
  password!: string;
  @ApiPropertyOptional({ enum: ['bcrypt', 'scram-sha-256'], default: 'bcrypt' })
  scheme?: string;
}

export class ChangePasswordDto {
  @ApiProperty({ example: 'n3w-passw0rd' })
  password!: string;
  @ApiPropertyOptional({ enum: ['bcrypt', 'scram-sha-256'], default: 'bcrypt' })
  scheme?: string;
}

export class UserChangeResultDto {
  @ApiProperty({ example: 'alice' })
  username!: string;
  @ApiProperty({ enum: ['created', 'updated', 'deleted'] })
  result!: string;
  @ApiProperty({ type: String, nullable: true, description: 'e.g. bcrypt reads only the first 72 bytes of a password' })
  warning!: string | null;
}
