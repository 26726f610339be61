/**
 * MQTT.js clients for the multi-process cluster tests (test/helpers/cluster-nodes.ts), and the
 * one wait those tests share: until a subscription made on one node is routed from another.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

const clients = new Set<MqttClient>();

/** An MQTT.js client connected to `url` (MQTT 5 unless told), resolved on CONNACK; closed by endClients(). */
export function connectTo(url: string, o: IClientOptions = {}): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...o });
  clients.add(client);
  return new Promise((resolve, reject) => {
    // Only the first connection's failure ends the client: a reconnecting client (servers: [...])
    // meets refused connections to a killed node on its way to another one.
    const onError = (err: Error): void => {
      client.end(true);
      reject(err);
    };
    client.once('error', onError);
    client.once('connect', () => {
      client.off('error', onError);
      client.on('error', () => undefined); // reconnect attempts to a dead node: expected
      resolve(client);
    });
  });
}

/** Force-closes every client made by connectTo (afterEach). */
export async function endClients(): Promise<void> {
  await Promise.all([...clients].map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
  clients.clear();
}

/**
 * Waits until `subscriber` receives a message that `publisher` (another node) publishes on
 * `topic`: the route of the subscriber's node has reached the publisher's node. Publishes a QoS 0
 * probe every 50 ms (the route table is followed asynchronously); probes carry '__probe__'.
 */
export async function routed(publisher: MqttClient, subscriber: MqttClient, topic: string, ms = 5000): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic || payload.toString() !== '__probe__') return;
      clearInterval(timer);
      clearTimeout(deadline);
      subscriber.off('message', onMessage);
      resolve();
    };
    subscriber.on('message', onMessage);
    const timer = setInterval(() => publisher.publish(topic, '__probe__', { qos: 0 }), 50);
    publisher.publish(topic, '__probe__', { qos: 0 });
    const deadline = setTimeout(() => {
      clearInterval(timer);
      subscriber.off('message', onMessage);
      reject(new Error(`route for ${topic} not seen within ${ms} ms`));
    }, ms);
  });
}

/** Collects the non-probe messages `client` receives. */
export function collect(client: MqttClient): { topic: string; payload: string; qos: number }[] {
  const got: { topic: string; payload: string; qos: number }[] = [];
  client.on('message', (topic, payload, packet) => {
    if (payload.toString() !== '__probe__') got.push({ topic, payload: payload.toString(), qos: packet.qos });
  });
  return got;
}

/**
 * Connects `clientId` to `url` (MQTT 5, session expiry 300 s, Clean Start per `clean`) listening
 * BEFORE the CONNACK, so that queued messages sent right after it are seen; the non-probe payloads
 * in `got`, Session Present in `present`. Closed by endClients().
 */
export async function resumeSession(url: string, clientId: string, clean = false): Promise<{ client: MqttClient; got: string[]; present: boolean }> {
  const got: string[] = [];
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, clean, clientId, properties: { sessionExpiryInterval: 300 } });
  clients.add(client);
  client.on('message', (_t, p) => {
    if (p.toString() !== '__probe__') got.push(p.toString());
  });
  const present = await new Promise<boolean>((resolve, reject) => {
    client.once('connect', (connack) => resolve(connack.sessionPresent));
    client.once('error', reject);
  });
  return { client, got, present };
}
