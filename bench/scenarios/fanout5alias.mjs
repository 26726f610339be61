// 2b. QoS 0 fan-out over MQTT 5.0 with outbound Topic Aliases: 1 publisher sends QoS 0 v5
// PUBLISHes round-robin on TOPICS topics bench/fanout/0..7 (as fast as its socket takes them);
// 100 v5 subscribers on bench/fanout/+, each announcing Topic Alias Maximum ALIAS_MAX in its
// CONNECT, so that a broker may send each topic once with an alias and afterwards the alias with
// an empty Topic Name. Sizing as fanout.mjs. Figure: total deliveries per second across all
// subscribers in the measured phase. Every delivery is checked: payload byte 0 is the topic's
// index, so a topic (or an alias resolved through what that subscriber was told) naming another
// topic, an alias above ALIAS_MAX or an alias never set counts as a bad delivery. The notes
// give the share of deliveries that came with the alias only: whether the broker used aliases.
// Aedes has no MQTT 5: n/a.
import { openClient, openMany, pump, timeArrivals, rateOf, waitForCount, close, calibrated, generatorMeter, generatorNote } from '../lib/client.mjs';
import { PUBLISH, parsePublishV5, publishV5 } from '../lib/frames.mjs';
import * as P from '../lib/packets.mjs';
import { processCpuMs } from '../lib/cpu.mjs';

export const id = 'fanout5alias';
export const timeoutMs = 60000;
export const v5 = true;
export const settings = (s) =>
  `MQTT 5.0 clients; 1 publisher, QoS 0, ${PAYLOAD} B payload, ${BATCH} packets per write, round-robin over ${TOPICS} topics \`bench/fanout/0..${TOPICS - 1}\`; ${SUBS} subscribers on \`bench/fanout/+\`, each with Topic Alias Maximum ${ALIAS_MAX} in its CONNECT; calibration ${probe(s).toLocaleString('en')} publishes, then a measured phase sized for ~${target(s)} s (${MIN.toLocaleString('en')}…${max(s).toLocaleString('en')} publishes)`;
export const metrics = [
  { key: 'rate', label: 'MQTT 5: QoS 0 fan-out, topic aliases, 1 pub → 100 subs (deliveries/s)', unit: 'msgs/s', better: 'higher' },
];

const SUBS = 100;
const TOPICS = 8;
const ALIAS_MAX = 10;
const PAYLOAD = 16;
const BATCH = 64; // a multiple of TOPICS: every write has the same topic order
const MIN = 1000;
const probe = (scale) => Math.max(200, Math.round(1000 * Math.min(1, scale)));
const max = (scale) => Math.max(MIN, Math.round(250000 * scale));
const target = (scale) => (scale >= 1 ? 3 : 1);

export async function run(ctx) {
  const { port, scale } = ctx;
  const deadline = Date.now() + 50000;
  let received = 0;
  let malformed = 0;
  let badAlias = 0;
  let aliasOnly = 0;
  // Per subscriber, alias -> topic index + 1 (0: never set), as that subscriber was told.
  const aliasMap = new Uint8Array(SUBS * (ALIAS_MAX + 1));
  const perSub = new Uint32Array(SUBS);
  const onFrameFor = (i) => (h, buf, s, e) => {
    if ((h & 0xf0) !== PUBLISH) return;
    received++;
    perSub[i]++;
    const pl = parsePublishV5(h, buf, s, e);
    const k = buf[pl];
    if (e - pl !== PAYLOAD || buf[e - 1] !== 0x62 || k >= TOPICS || (h & 6) !== 0) {
      malformed++;
      return;
    }
    const alias = publishV5.alias;
    if (alias > ALIAS_MAX) {
      badAlias++;
      return;
    }
    if (publishV5.topicLen === 0) {
      if (alias === 0 || aliasMap[i * (ALIAS_MAX + 1) + alias] !== k + 1) badAlias++;
      else aliasOnly++;
      return;
    }
    // bench/fanout/<k>: the topic's last character is its index
    if (buf[s + 2 + publishV5.topicLen - 1] - 48 !== k) malformed++;
    else if (alias !== 0) aliasMap[i * (ALIAS_MAX + 1) + alias] = k + 1;
  };
  const subs = await openMany(port, SUBS, (i) => ({
    clientId: `bench-fanout5alias-sub-${i}`,
    v5: true,
    topicAliasMaximum: ALIAS_MAX,
    subscribe: [{ topic: 'bench/fanout/+', qos: 0 }],
    onFrame: onFrameFor(i),
  }));
  const t = timeArrivals(subs, () => received);
  const pub = await openClient(port, 'bench-fanout5alias-pub', { v5: true });
  const pkts = [];
  for (let k = 0; k < TOPICS; k++) {
    const payload = Buffer.alloc(PAYLOAD, 0x62);
    payload[0] = k;
    pkts.push(P.publish(`bench/fanout/${k}`, payload, { qos: 0, v5: true }));
  }
  const pktLen = pkts[0].length; // every topic has the same length
  const batch = P.repeat(Buffer.concat(pkts), BATCH / TOPICS);

  async function phase(n) {
    const sendDeadline = Math.min(Date.now() + 15000, deadline - 12000);
    t.reset();
    const tSend = performance.now();
    const meter = generatorMeter();
    const brokerCpu0 = processCpuMs(ctx.brokerPid);
    perSub.fill(0);
    const base = received;
    const sent = await pump(pub.sock, [batch], BATCH, pktLen, n, sendDeadline);
    const expected = sent * SUBS;
    const got = await waitForCount(() => received - base, expected, 2000, deadline, meter);
    const over = perSub.filter((k) => k > sent).length;
    // The broker's CPU time per message received: a figure that other load on the machine moves less.
    const brokerUs = ((processCpuMs(ctx.brokerPid) - brokerCpu0) * 1000) / got;
    return { brokerUs, sent, expected, got, over, meter, rate: rateOf(t, got), e2e: got / ((t.last - tSend) / 1000), wanted: n, secs: (t.last - t.first) / 1000 };
  }

  const { cal, m, runs } = await calibrated(phase, { probe: probe(scale), target: target(scale), min: MIN, max: max(scale), multiple: BATCH, perCount: SUBS });
  for (const c of [pub, ...subs]) close(c);
  const notes = [`measured ${m.sent.toLocaleString('en')} publishes in ${m.secs.toFixed(2)} s${runs > 1 ? ', after a re-sizing run' : ''} (first send → last arrival: ${Math.round(m.e2e / 1000)}k deliveries/s; calibration ${Math.round(cal.rate / 1000)}k deliveries/s; generator ${Math.round(m.meter.load * 100)}% of a core)`];
  notes.push(`${((aliasOnly / Math.max(1, received)) * 100).toFixed(2)}% of ${received.toLocaleString('en')} deliveries came with a Topic Alias and an empty topic`);
  const gn = generatorNote(m.meter);
  if (gn) notes.push(gn);
  if (cal.got < cal.expected) notes.push(`calibration lost ${cal.expected - cal.got} of ${cal.expected}`);
  if (m.sent < m.wanted) notes.push(`send capped by time: ${m.sent} of ${m.wanted} sent`);
  if (m.got < m.expected) notes.push(`lost ${m.expected - m.got} of ${m.expected} deliveries (${(((m.expected - m.got) / m.expected) * 100).toFixed(2)}%)`);
  if (m.over) notes.push(`${m.over} subscribers received more messages than were sent`);
  if (m.got > m.expected) notes.push(`received ${m.got - m.expected} more than sent`);
  if (malformed) notes.push(`${malformed} PUBLISHes with unexpected length, QoS, payload or topic`);
  if (badAlias) notes.push(`${badAlias} PUBLISHes with a Topic Alias above ${ALIAS_MAX}, never set, or naming another topic`);
  const brokerUs = m.brokerUs;
  if (Number.isFinite(brokerUs)) notes.push(`broker CPU ${brokerUs.toFixed(2)} µs per delivery received in the measured phase`);
  return { values: { rate: m.rate, brokerUs }, notes, losses: Math.max(0, m.expected - m.got) + malformed + badAlias };
}
