/**
 * MQTT 5 interoperability: Debian's mosquitto_pub / mosquitto_sub with -V mqttv5, and Debian's
 * python3-paho-mqtt 1.6.1 with protocol=MQTTv5 (run with /usr/bin/python3).
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { useBroker } from '../../helpers/conformance';

const run = promisify(execFile);

describe('v5 interoperability', () => {
  const h = useBroker();

  it('v5 [MQTT-3.3.2-17] mosquitto_sub -V mqttv5 receives what mosquitto_pub -V mqttv5 sent, with its user property', async () => {
    const port = String(h().port);
    const sub = spawn('mosquitto_sub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port, '-q', '1', '-t', 'mq/#', '-v', '-F', '%t %p %P', '-C', '1', '-W', '5']);
    let out = '';
    let err = '';
    sub.stdout.on('data', (d) => (out += d));
    sub.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => sub.once('exit', r));
    // Publish until the subscriber (whose subscription time we cannot observe) has one message; bounded.
    for (let i = 0; i < 50 && out === '' && sub.exitCode === null; i++) {
      await run('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', port, '-q', '1', '-t', 'mq/x', '-m', 'hello5', '-D', 'publish', 'user-property', 'k', 'v']);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
    }
    expect(await exited).toBe(0);
    expect(err).toBe('');
    expect(out).toBe('mq/x hello5 k:v\n');
  });

  it('v5 [MQTT-3.3.2-17] paho-mqtt 1.6.1 (MQTTv5): connect, subscribe, publish to itself with a user property, receive it', async () => {
    const script = `
import sys, paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
got = []
def on_connect(c, u, flags, rc, props=None):
    c.subscribe('py/t', qos=1)
def on_subscribe(c, u, mid, codes, props=None):
    p = Properties(PacketTypes.PUBLISH)
    p.UserProperty = ('k', 'v')
    c.publish('py/t', b'hi', qos=1, properties=p)
def on_message(c, u, m):
    got.append((m.topic, m.payload.decode(), m.properties.UserProperty))
    c.disconnect()
c = mqtt.Client(client_id='paho5', protocol=mqtt.MQTTv5)
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect('127.0.0.1', int(sys.argv[1]), keepalive=30)
c.loop_start()
import time
for _ in range(50):
    if got: break
    time.sleep(0.1)
c.loop_stop()
print(got)
`;
    const { stdout } = await run('/usr/bin/python3', ['-c', script, String(h().port)], { timeout: 10000 });
    expect(stdout.trim()).toBe("[('py/t', 'hi', [('k', 'v')])]");
  });
});
