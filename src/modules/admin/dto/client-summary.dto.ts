import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { ClientSnapshot } from '../../../core';
import type { ClusterClientEntry } from '../../../core/cluster/cluster-node';

/** One connected client, as listed by GET /api/v1/clients (built from a Broker snapshot). */
export class ClientSummaryDto {
  @ApiProperty({ example: 'sensor-42' })
  clientId!: string;

  @ApiProperty({ type: String, nullable: true, example: 'alice' })
  username!: string | null;

  @ApiProperty({ example: '10.1.2.3:51234', description: 'peer address:port of the connection' })
  remoteAddress!: string;

  @ApiProperty({ example: 'my-tcp', description: 'name of the listener the client connected to' })
  listener!: string;

  @ApiProperty({ enum: [3, 4, 5], example: 5, description: 'protocol level: 5 = MQTT 5.0, 4 = MQTT 3.1.1, 3 = MQTT 3.1' })
  protocolLevel!: number;

  @ApiProperty({ example: '2026-01-01T12:00:00.000Z', format: 'date-time' })
  connectedAt!: string;

  @ApiProperty({ example: 60, description: 'keepalive in seconds (0 = none)' })
  keepalive!: number;

  @ApiProperty({ example: true })
  cleanSession!: boolean;

  @ApiProperty({ example: 2, description: 'subscriptions held by the session' })
  subscriptions!: number;

  @ApiProperty({ example: 0, description: 'outbound QoS 1/2 messages awaiting acknowledgement' })
  inflight!: number;

  @ApiProperty({ example: 0, description: 'messages queued for the client' })
  queued!: number;

  @ApiPropertyOptional({
    example: 'nestmq-0',
    description: 'clustered only: the node the client is connected to. For clients of other nodes the listing has the directory fields only (no keepalive, cleanSession, subscriptions, inflight, queued)',
  })
  node?: string;

  /** A client of another node, from the cluster directory in Redis. */
  static fromCluster(e: ClusterClientEntry): ClientSummaryDto {
    const dto = new ClientSummaryDto();
    dto.clientId = e.clientId;
    dto.username = e.username;
    dto.remoteAddress = e.remoteAddress;
    dto.listener = e.listener;
    dto.protocolLevel = e.protocolLevel;
    dto.connectedAt = new Date(e.connectedAt).toISOString();
    dto.node = e.node;
    return dto;
  }

  static from(s: ClientSnapshot): ClientSummaryDto {
    const dto = new ClientSummaryDto();
    dto.clientId = s.clientId;
    dto.username = s.username;
    dto.remoteAddress = s.remoteAddress;
    dto.listener = s.listener;
    dto.protocolLevel = s.protocolLevel;
    dto.connectedAt = new Date(s.connectedAt).toISOString();
    dto.keepalive = s.keepalive;
    dto.cleanSession = s.cleanSession;
    dto.subscriptions = s.subscriptions;
    dto.inflight = s.inflight;
    dto.queued = s.queued;
    return dto;
  }
}

export class SubscriptionDto {
  @ApiProperty({ example: 'sensors/+/temperature' })
  filter!: string;

  @ApiProperty({ enum: [0, 1, 2], example: 1, description: 'granted QoS' })
  qos!: number;
}

/** One client with its subscriptions: GET /api/v1/clients/{clientId}. */
export class ClientDetailDto extends ClientSummaryDto {
  @ApiProperty({ type: [SubscriptionDto] })
  subscriptionList!: SubscriptionDto[];

  static fromDetail(s: ClientSnapshot & { subscriptionList: { filter: string; qos: number }[] }): ClientDetailDto {
    const dto = Object.assign(new ClientDetailDto(), ClientSummaryDto.from(s));
    dto.subscriptionList = s.subscriptionList.map((x) => Object.assign(new SubscriptionDto(), { filter: x.filter, qos: x.qos }));
    return dto;
  }
}

export class ClientPageDto {
  @ApiProperty({ example: 1234, description: 'clients matching the filters' })
  total!: number;

  @ApiProperty({ example: 0 })
  offset!: number;

  @ApiProperty({ example: 100 })
  limit!: number;

  @ApiProperty({ type: [ClientSummaryDto], description: 'sorted by client id' })
  items!: ClientSummaryDto[];

  @ApiPropertyOptional({ description: 'clustered only: a node had more clients than one listing reads (10,000 per node); total still counts them all' })
  truncated?: boolean;
}

export class DisconnectResultDto {
  @ApiProperty({ example: 'sensor-42' })
  clientId!: string;

  @ApiProperty({ example: true, description: 'a connection was open and has been closed' })
  disconnected!: boolean;

  @ApiProperty({ example: false, description: 'the session (subscriptions, queued messages) was discarded' })
  sessionDiscarded!: boolean;

  @ApiPropertyOptional({ example: 'nestmq-1', description: 'clustered only: the node the client was connected to (asked through Redis when not this one)' })
  node?: string;
}
