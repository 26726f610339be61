/**
 * Home Assistant against nestmq, over real sockets: the Home Assistant side connects the way its
 * MQTT integration does (homeassistant/components/mqtt/client.py): paho-mqtt with MQTT 5, a
 * generated 22-character base62 client id, paho's default Clean Start (1 on the first connect),
 * Keep Alive 60, a Will `offline` on `homeassistant/status` (QoS 0, not retained), the discovery
 * subscriptions `homeassistant/+/+/config` and `homeassistant/+/+/+/config` at QoS 0, then its
 * birth `online` on `homeassistant/status`. It runs in Debian's /usr/bin/python3 (paho 1.6.1),
 * driven by JSON lines on stdin and reporting JSON lines on stdout. The device is MQTT.js with
 * `protocolVersion: 5`: retained discovery configs, retained availability with a retained Will
 * `offline`, state, and a command topic; it republishes discovery when Home Assistant's birth
 * arrives, as devices do.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import type { MqttClient } from 'mqtt';
import { useBroker } from '../helpers/conformance';
import { connectMqtt5 } from '../helpers/v5';
import { waitFor } from '../helpers/wait';

const HOME_ASSISTANT = String.raw`
import json, sys, uuid
import paho.mqtt.client as mqtt

def emit(**o):
    print(json.dumps(o), flush=True)

client_id = mqtt.base62(uuid.uuid4().int, padding=22)  # as Home Assistant does
c = mqtt.Client(client_id, protocol=mqtt.MQTTv5, reconnect_on_failure=False)
c.will_set('homeassistant/status', 'offline', qos=0, retain=False)

def on_connect(client, userdata, flags, rc, properties=None):
    emit(event='connected', rc=rc.value, session_present=bool(flags.get('session present')), client_id=client_id)
    client.subscribe([('homeassistant/+/+/config', 0), ('homeassistant/+/+/+/config', 0)])

def on_subscribe(client, userdata, mid, reason_codes, properties=None):
    emit(event='subscribed', codes=[r.value for r in reason_codes])

def on_message(client, userdata, msg):
    emit(event='message', topic=msg.topic, payload=msg.payload.decode(), retain=bool(msg.retain), qos=msg.qos)

c.on_connect = on_connect
c.on_subscribe = on_subscribe
c.on_message = on_message
c.connect('127.0.0.1', int(sys.argv[1]), keepalive=60)
c.loop_start()
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd['op'] == 'subscribe':
        c.subscribe(cmd['topic'], cmd['qos'])
    elif cmd['op'] == 'publish':
        c.publish(cmd['topic'], cmd['payload'], qos=cmd['qos'], retain=cmd['retain']).wait_for_publish()
        emit(event='published', topic=cmd['topic'])
    elif cmd['op'] == 'stop':
        c.disconnect()
        c.loop_stop()
        emit(event='stopped')
        break
`;

interface HaEvent {
  event: 'connected' | 'subscribed' | 'message' | 'published' | 'stopped';
  rc?: number;
  session_present?: boolean;
  client_id?: string;
  codes?: number[];
  topic?: string;
  payload?: string;
  retain?: boolean;
  qos?: number;
}

/** One Home Assistant process: what it reported so far, and commands to it. */
class HomeAssistant {
  readonly events: HaEvent[] = [];
  private readonly proc: ChildProcessWithoutNullStreams;
  private stderr = '';

  constructor(port: number) {
    this.proc = spawn('/usr/bin/python3', ['-c', HOME_ASSISTANT, String(port)]);
    let pending = '';
    this.proc.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') this.events.push(JSON.parse(line) as HaEvent);
    });
    this.proc.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.stdin.write(JSON.stringify(cmd) + '\n');
  }

  messages(topic: string): HaEvent[] {
    return this.events.filter((e) => e.event === 'message' && e.topic === topic);
  }

  async until(what: string, ok: () => boolean): Promise<void> {
    await waitFor(ok, 5000, `Home Assistant: ${what} (events ${JSON.stringify(this.events)} stderr ${this.stderr})`);
  }

  /** HA's entity setup after discovery: subscribes to the state and availability topics (QoS 0). */
  async subscribe(topic: string): Promise<void> {
    const before = this.events.filter((e) => e.event === 'subscribed').length;
    this.send({ op: 'subscribe', topic, qos: 0 });
    await this.until(`SUBACK for ${topic}`, () => this.events.filter((e) => e.event === 'subscribed').length > before);
  }

  async publish(topic: string, payload: string, retain = false): Promise<void> {
    this.send({ op: 'publish', topic, payload, qos: 0, retain });
    await this.until(`published ${topic}`, () => this.events.some((e) => e.event === 'published' && e.topic === topic));
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.proc.once('exit', () => resolve()));
    this.send({ op: 'stop' });
    this.proc.stdin.end();
    await exited;
  }

  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill();
  }
}

const SENSOR_CONFIG = 'homeassistant/sensor/garden_temp/config';
const PUMP_CONFIG = 'homeassistant/switch/garden/pump/config'; // with a node id: the +/+/+/config subscription
const AVAILABILITY = 'garden/availability';
const sensorConfig = JSON.stringify({
  name: 'Garden temperature',
  unique_id: 'garden_temp',
  state_topic: 'garden/temp/state',
  availability_topic: AVAILABILITY,
  unit_of_measurement: '°C',
  device_class: 'temperature',
});
const pumpConfig = JSON.stringify({
  name: 'Garden pump',
  unique_id: 'garden_pump',
  state_topic: 'garden/pump/state',
  command_topic: 'garden/pump/set',
  availability_topic: AVAILABILITY,
});

describe('Home Assistant (paho-mqtt MQTT 5, as its MQTT integration connects) with an MQTT.js v5 device', () => {
  const h = useBroker();
  const homeAssistants: HomeAssistant[] = [];
  const devices: MqttClient[] = [];
  afterEach(async () => {
    for (const ha of homeAssistants.splice(0)) {
      await ha.stop().catch(() => undefined);
      ha.kill();
    }
    for (const d of devices.splice(0)) d.end(true);
  });

  /** The device: Will `offline` retained; on connect, retained discovery and `online`; republishes discovery on HA's birth. */
  async function device(commands: string[]): Promise<MqttClient> {
    const { client } = await connectMqtt5(h().port, {
      clientId: 'garden-device',
      will: { topic: AVAILABILITY, payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    devices.push(client);
    const announce = async (): Promise<void> => {
      await client.publishAsync(SENSOR_CONFIG, sensorConfig, { qos: 1, retain: true });
      await client.publishAsync(PUMP_CONFIG, pumpConfig, { qos: 1, retain: true });
    };
    client.on('message', (topic, payload) => {
      if (topic === 'homeassistant/status' && payload.toString() === 'online') void announce();
      if (topic === 'garden/pump/set') commands.push(payload.toString());
    });
    await client.subscribeAsync({ 'homeassistant/status': { qos: 1 }, 'garden/pump/set': { qos: 1 } });
    await announce();
    await client.publishAsync(AVAILABILITY, 'online', { qos: 1, retain: true });
    return client;
  }

  /** Starts Home Assistant: CONNACK, the discovery subscriptions granted; then the entities' subscriptions and the birth. */
  async function startHomeAssistant(): Promise<HomeAssistant> {
    const ha = new HomeAssistant(h().port);
    homeAssistants.push(ha);
    await ha.until('CONNACK', () => ha.events.some((e) => e.event === 'connected'));
    const connected = ha.events.find((e) => e.event === 'connected')!;
    expect([connected.rc, connected.session_present]).toEqual([0, false]);
    expect(connected.client_id).toMatch(/^[0-9A-Za-z]{22}$/);
    expect(h().broker.client(connected.client_id!)?.protocolLevel).toBe(5);
    await ha.until('SUBACK of the discovery subscriptions', () => ha.events.some((e) => e.event === 'subscribed'));
    expect(ha.events.find((e) => e.event === 'subscribed')!.codes).toEqual([0, 0]);
    return ha;
  }

  it('discovery, availability and state reach Home Assistant with the right retain flags; a command reaches the device; the device\'s death is seen; a restarted Home Assistant gets discovery again', async () => {
    const commands: string[] = [];
    let dev = await device(commands);

    // Home Assistant starts after the device: the retained discovery configs arrive on subscribe, RETAIN 1.
    let ha = await startHomeAssistant();
    await ha.until('both discovery configs', () => ha.messages(SENSOR_CONFIG).length === 1 && ha.messages(PUMP_CONFIG).length === 1);
    expect(ha.messages(SENSOR_CONFIG)[0]).toMatchObject({ payload: sensorConfig, retain: true });
    expect(ha.messages(PUMP_CONFIG)[0]).toMatchObject({ payload: pumpConfig, retain: true });
    expect(JSON.parse(ha.messages(SENSOR_CONFIG)[0].payload!)).toMatchObject({ unit_of_measurement: '°C' });

    // The entities subscribe to their topics: the retained availability `online` arrives, RETAIN 1.
    await ha.subscribe(AVAILABILITY);
    await ha.subscribe('garden/+/state');
    await ha.until('availability online', () => ha.messages(AVAILABILITY).length === 1);
    expect(ha.messages(AVAILABILITY)[0]).toMatchObject({ payload: 'online', retain: true });

    // The birth: the device republishes discovery, which reaches the existing subscriptions live (RETAIN 0).
    await ha.publish('homeassistant/status', 'online');
    await ha.until('discovery again after the birth', () => ha.messages(SENSOR_CONFIG).length === 2 && ha.messages(PUMP_CONFIG).length === 2);
    expect(ha.messages(SENSOR_CONFIG)[1]).toMatchObject({ payload: sensorConfig, retain: false });
    expect(ha.messages(PUMP_CONFIG)[1]).toMatchObject({ payload: pumpConfig, retain: false });

    // State, live.
    await dev.publishAsync('garden/temp/state', '21.5', { qos: 0 });
    await ha.until('the state', () => ha.messages('garden/temp/state').length === 1);
    expect(ha.messages('garden/temp/state')[0]).toMatchObject({ payload: '21.5', retain: false, qos: 0 });

    // A command from Home Assistant reaches the device; its state comes back.
    await ha.publish('garden/pump/set', 'ON');
    await waitFor(() => commands.length === 1, 5000, 'the command at the device');
    expect(commands).toEqual(['ON']);
    await dev.publishAsync('garden/pump/state', 'ON', { qos: 0, retain: true });
    await ha.until('the pump state', () => ha.messages('garden/pump/state').length === 1);
    expect(ha.messages('garden/pump/state')[0]).toMatchObject({ payload: 'ON', retain: false });

    // The device dies without DISCONNECT: its Will `offline` reaches Home Assistant (live: RETAIN 0) and stays retained.
    dev.stream.destroy();
    await ha.until('availability offline', () => ha.messages(AVAILABILITY).length === 2);
    expect(ha.messages(AVAILABILITY)[1]).toMatchObject({ payload: 'offline', retain: false });
    expect(h().broker.retainedMessage(AVAILABILITY)?.payload.toString()).toBe('offline');

    // The device comes back; Home Assistant restarts (a new process, a new client id, Clean Start 1).
    dev = await device(commands);
    const firstId = ha.events.find((e) => e.event === 'connected')!.client_id;
    await ha.stop();
    ha = await startHomeAssistant();
    expect(ha.events.find((e) => e.event === 'connected')!.client_id).not.toBe(firstId);
    await ha.until('retained discovery after the restart', () => ha.messages(SENSOR_CONFIG).length === 1 && ha.messages(PUMP_CONFIG).length === 1);
    expect(ha.messages(SENSOR_CONFIG)[0]).toMatchObject({ payload: sensorConfig, retain: true });
    await ha.subscribe(AVAILABILITY);
    await ha.until('availability online after the restart', () => ha.messages(AVAILABILITY).length === 1);
    expect(ha.messages(AVAILABILITY)[0]).toMatchObject({ payload: 'online', retain: true });
    await ha.publish('homeassistant/status', 'online');
    await ha.until('discovery republished on the new birth', () => ha.messages(SENSOR_CONFIG).length === 2 && ha.messages(PUMP_CONFIG).length === 2);
    expect(ha.messages(PUMP_CONFIG)[1]).toMatchObject({ payload: pumpConfig, retain: false });
    expect(ha.messages('garden/pump/state')).toEqual([]); // not subscribed in this session
  });
});
