/**
 * Harness for test/conformance: a fresh broker per test (TestBroker, on an ephemeral port), raw
 * clients (test/helpers/raw.ts) and MQTT.js clients, all closed after the test.
 */
import type * as tls from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { BrokerConfigInput, BrokerOptions } from '../../src';
import { TestBroker } from './broker';
import { RawClient, type ConnectOptions, connack } from './raw';
import { waitFor } from './wait';

export class Harness {
  readonly raws: RawClient[] = [];

  private constructor(readonly tb: TestBroker) {}

  static async start(config: BrokerConfigInput = {}, options?: BrokerOptions): Promise<Harness> {
    return new Harness(await TestBroker.start(config, options));
  }

  get broker(): TestBroker['broker'] {
    return this.tb.broker;
  }

  get port(): number {
    return this.tb.port;
  }

  /** A raw TCP connection, nothing sent yet. */
  async raw(port = this.port): Promise<RawClient> {
    const c = await RawClient.tcp(port);
    this.raws.push(c);
    return c;
  }

  /** A raw TLS connection to the named listener (certificate not verified). */
  async tls(listener: string, options: tls.ConnectionOptions = {}): Promise<RawClient> {
    const c = await RawClient.tls(this.broker.port(listener), options);
    this.raws.push(c);
    return c;
  }

  /** A raw WebSocket connection to the named ws listener (path /mqtt). */
  async websocket(listener: string, protocols: string[] = ['mqtt']): Promise<RawClient> {
    const c = await RawClient.websocket(`ws://127.0.0.1:${this.broker.port(listener)}/mqtt`, protocols);
    this.raws.push(c);
    return c;
  }

  /** A raw connection that sent CONNECT and got the expected CONNACK (default 20 02 00 00). */
  async connected(o: ConnectOptions = {}, expected = connack(0, 0)): Promise<RawClient> {
    const c = await this.raw();
    await c.connect(o, expected);
    return c;
  }

  /** An MQTT.js 3.1.1 client, connected. */
  client(o: IClientOptions = {}): Promise<MqttClient> {
    return this.tb.client(o);
  }

  /** Resolves once the broker no longer lists `clientId` as connected (it noticed the close). */
  async gone(clientId: string, ms = 2000): Promise<void> {
    await waitFor(() => this.broker.client(clientId) === undefined, ms, `${clientId} to be disconnected`);
  }

  /** An MQTT.js 3.1.1 client over WebSocket to the named ws listener, connected. */
  async wsClient(listener: string, o: IClientOptions = {}): Promise<MqttClient> {
    const c = mqtt.connect(`ws://127.0.0.1:${this.broker.port(listener)}/mqtt`, {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      protocolVersion: 4,
      ...o,
    });
    this.tb.clients.push(c);
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve());
      c.once('error', reject);
      c.once('close', () => reject(new Error('closed before CONNACK')));
    });
    return c;
  }

  /**
   * Asserts that nothing arrived at each of `quiet` and nothing is on its way, without a
   * wall-clock window: first a round trip on every other open, connected client of this harness
   * (PINGREQ for raw clients, UNSUBSCRIBE of a filter nobody uses for MQTT.js ones: the broker
   * handles a connection's packets in order, so everything they sent earlier has been handled
   * and routed), then RawClient.expectNothing on each of `quiet` (its PINGRESP is the very next
   * packet, as the broker writes a connection's output in order). Not for deliveries a timer
   * would cause (retries, keepalive, expiry).
   */
  async expectNothing(...quiet: RawClient[]): Promise<void> {
    for (const r of this.raws) {
      // A sender the server closes meanwhile had its packets handled up to the close.
      if (!quiet.includes(r) && !r.closed && r.accepted) await r.pingRoundTrip().catch((err: unknown) => { if (!r.closed) throw err; });
    }
    for (const c of this.tb.clients) if (c.connected) await c.unsubscribeAsync('nestmq-test/round-trip');
    for (const q of quiet) await q.expectNothing();
  }

  async close(): Promise<void> {
    for (const r of this.raws) r.destroy();
    await this.tb.close();
  }
}

/**
 * Registers beforeEach/afterEach for a fresh broker per test; returns a getter for the harness.
 *   const h = useBroker({ limits: { 'connect-timeout': 1 } });
 *   it('...', async () => { const c = await h().connected(); ... });
 */
export function useBroker(config: BrokerConfigInput = {}, options?: () => BrokerOptions): () => Harness {
  let h: Harness | null = null;
  beforeEach(async () => {
    h = await Harness.start(config, options?.());
  });
  afterEach(async () => {
    const x = h;
    h = null;
    await x?.close();
  });
  return () => {
    if (h === null) throw new Error('no broker: useBroker() must be called in a describe block');
    return h;
  };
}

// Re-exported: conformance tests import the waits from here.
export { sleep, waitFor } from './wait';
