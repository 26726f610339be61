import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashPassword } from '../../src/core/auth/hashes';
import { TestBroker } from '../helpers/broker';
import { publishAcked, recording, subscribeCodes, tmp } from './auth.helpers';

const F = 0x80;

/** A password file with these users, password `<user>-pw`, bcrypt cost 4. */
async function users(dir: string, names: string[]): Promise<string> {
  const file = join(dir, 'passwd');
  const lines = await Promise.all(names.map(async (n) => `${n}:${await hashPassword(`${n}-pw`, 4)}\n`));
  writeFileSync(file, lines.join(''));
  return file;
}

describe('hbmqtt/amqtt topic ACLs (topic-check.acl, publish-acl) with real clients', () => {
  let tb: TestBroker;
  beforeAll(async () => {
    const dir = tmp();
    tb = await TestBroker.start({
      auth: { plugins: ['auth.file'], 'allow-anonymous': true, 'password-file': await users(dir, ['alice', 'admin']) },
      'topic-check': {
        enabled: true,
        plugins: ['topic_acl'],
        acl: { alice: ['home/alice/#', 'public/+'], admin: ['#', '$SYS/#'], anonymous: ['public/#'] },
        'publish-acl': { alice: ['home/alice/+/set'], admin: ['#'], anonymous: [] },
      },
    });
  });
  afterAll(() => tb.close());
  const login = (u: string, clientId?: string) => tb.client({ username: u, password: `${u}-pw`, clientId });

  it('subscribe: SUBACK 0x80 for the refused filter only, granted QoS for the others', async () => {
    const alice = await login('alice');
    expect(await subscribeCodes(alice, ['home/alice/#', 'home/bob/#', 'public/+', '$SYS/#'], 1)).toEqual([1, F, 1, F]);
    const anon = await tb.client();
    expect(await subscribeCodes(anon, ['public/#', 'home/#'], 2)).toEqual([2, F]);
  });

  it('publish: a denied publish is acknowledged (PUBACK / PUBCOMP), dropped, counted, and reaches nobody', async () => {
    const admin = await login('admin');
    await subscribeCodes(admin, ['#']);
    const alice = await login('alice');
    const before = tb.broker.stats.droppedUnauthorized;
    const seen = recording(admin, alice);
    await publishAcked(alice, 'home/alice/lamp/set', 'on', { qos: 1 });
    await publishAcked(alice, 'home/alice/lamp', 'x', { qos: 1 }); // not in her publish-acl
    await publishAcked(alice, 'home/bob/lamp/set', 'x', { qos: 2 });
    await publishAcked(alice, 'public/news', 'x', { qos: 0 });
    expect(await seen()).toEqual(['home/alice/lamp/set']);
    expect(tb.broker.stats.droppedUnauthorized - before).toBe(3);
    expect(alice.connected).toBe(true);
  });

  it('wildcard delivery: `#` is granted to alice but she receives only the topics she may read, retained ones included', async () => {
    const admin = await login('admin');
    await publishAcked(admin, 'home/bob/door', 'retained-secret', { retain: true });
    await publishAcked(admin, 'public/weather', 'retained-public', { retain: true });
    const alice = await login('alice');
    const seen = recording(alice, admin);
    expect(await subscribeCodes(alice, ['#'])).toEqual([1]);
    for (const t of ['home/alice/kitchen/temp', 'home/bob/kitchen/temp', 'public/news', 'public/news/today', 'other']) await publishAcked(admin, t, 'x');
    expect((await seen()).sort()).toEqual(['home/alice/kitchen/temp', 'public/news', 'public/weather']);
  });

  it('no client may publish to $SYS, not even one whose publish-acl allows everything', async () => {
    const admin = await login('admin');
    const sub = await login('admin');
    await subscribeCodes(sub, ['$SYS/#']);
    const before = tb.broker.stats.droppedUnauthorized;
    const seen = recording(sub, admin);
    await publishAcked(admin, '$SYS/broker/fake', 'x');
    expect(await seen()).toEqual([]);
    expect(tb.broker.stats.droppedUnauthorized - before).toBe(1);
  });
});

describe('Mosquitto acl_file (topic-check.acl-file) with real clients', () => {
  let tb: TestBroker;
  let aclPath: string;
  const ACL = [
    '# anonymous clients',
    'topic read public/#',
    'user alice',
    'topic readwrite home/alice/#',
    'topic deny home/alice/secret/#',
    'topic read news/#',
    'user bob',
    'topic read news/#',
    'user editor',
    'topic write news/#',
    'pattern readwrite users/%u/#',
    'pattern write devices/%c/status',
  ].join('\n');

  beforeAll(async () => {
    const dir = tmp();
    aclPath = join(dir, 'acl');
    writeFileSync(aclPath, ACL);
    tb = await TestBroker.start({
      auth: { plugins: ['auth.file'], 'allow-anonymous': true, 'password-file': await users(dir, ['alice', 'bob', 'editor']) },
      'topic-check': { 'acl-file': aclPath },
    });
  });
  afterAll(() => tb.close());
  const login = (u: string, clientId?: string) => tb.client({ username: u, password: `${u}-pw`, clientId });

  it('%u and %c patterns: each user reads and writes its own tree, each client its own status topic', async () => {
    const alice = await login('alice', 'sensor-1');
    const bob = await login('bob', 'sensor-2');
    expect(await subscribeCodes(alice, ['users/alice/#', 'users/bob/#'])).toEqual([1, F]);
    expect(await subscribeCodes(bob, ['users/bob/#', 'devices/sensor-2/status'])).toEqual([1, F]); // status is write-only
    const aliceSeen = recording(alice, bob);
    const bobSeen = recording(bob, alice);
    await publishAcked(alice, 'users/alice/note', 'x'); // allowed, alice reads it back
    await publishAcked(alice, 'users/bob/note', 'x'); // denied
    await publishAcked(bob, 'users/bob/note', 'x');
    await publishAcked(alice, 'devices/sensor-1/status', 'x'); // her client id: allowed (nobody reads it)
    expect(await aliceSeen()).toEqual(['users/alice/note']);
    expect(await bobSeen()).toEqual(['users/bob/note']);
    expect(tb.broker.stats.droppedUnauthorized).toBe(1);
  });

  it('deny carve-out: a wildcard subscription skips the denied subtree; a filter inside it is refused', async () => {
    const alice = await login('alice');
    expect(await subscribeCodes(alice, ['home/alice/#', 'home/alice/secret/#'])).toEqual([1, F]);
    const writer = await login('alice');
    const seen = recording(alice, writer);
    await publishAcked(alice, 'home/alice/secret/diary', 'x'); // write denied too
    await publishAcked(writer, 'home/alice/kitchen', 'x');
    expect(await seen()).toEqual(['home/alice/kitchen']);
  });

  it('anonymous clients get the rules before the first user line', async () => {
    const anon = await tb.client();
    expect(await subscribeCodes(anon, ['public/#', 'news/#'])).toEqual([1, F]);
  });

  it('reload while subscribed: the new rules apply to existing subscriptions at once, clients stay connected', async () => {
    const bob = await login('bob');
    const editor = await login('editor');
    expect(await subscribeCodes(bob, ['news/#'])).toEqual([1]);
    let seen = recording(bob, editor);
    await publishAcked(editor, 'news/politics', 'x');
    await publishAcked(editor, 'news/sports/ball', 'x');
    expect(await seen()).toEqual(['news/politics', 'news/sports/ball']);
    writeFileSync(aclPath, ACL.replace('user bob\ntopic read news/#', 'user bob\ntopic read news/sports/#'));
    await tb.broker.reloadAuth();
    seen = recording(bob, editor);
    await publishAcked(editor, 'news/politics', 'x');
    await publishAcked(editor, 'news/sports/ball', 'x');
    expect(await seen()).toEqual(['news/sports/ball']);
    expect(bob.connected && editor.connected).toBe(true);
    expect(await subscribeCodes(bob, ['news/politics', 'news/sports/+'])).toEqual([F, 1]);
    // A broken file is refused and the rules in force stay.
    writeFileSync(aclPath, 'user bob\ntopic read news/#/oops\n');
    await expect(tb.broker.reloadAuth()).rejects.toThrow(/invalid ACL file/);
    expect(await subscribeCodes(bob, ['news/sports/+'])).toEqual([1]);
    writeFileSync(aclPath, ACL);
    await tb.broker.reloadAuth();
  });
});

describe('topic_taboo (hbmqtt) with real clients', () => {
  it('only admin may subscribe to, publish to or receive the taboo topics; `#` does not leak them', async () => {
    const dir = tmp();
    const tb = await TestBroker.start({
      auth: { plugins: ['auth.anonymous', 'auth.file'], 'allow-anonymous': true, 'password-file': await users(dir, ['admin', 'bob']) },
      'topic-check': { enabled: true, plugins: ['topic_taboo'] },
    });
    try {
      const admin = await tb.client({ username: 'admin', password: 'admin-pw' });
      const bob = await tb.client({ username: 'bob', password: 'bob-pw' });
      expect(await subscribeCodes(bob, ['prohibited', 'data/classified', '#'])).toEqual([F, F, 1]);
      expect(await subscribeCodes(admin, ['prohibited'])).toEqual([1]);
      const bobSeen = recording(bob, admin);
      const adminSeen = recording(admin, bob);
      await publishAcked(admin, 'prohibited', 'x');
      await publishAcked(admin, 'allowed', 'x');
      await publishAcked(bob, 'prohibited', 'x'); // dropped
      expect(await bobSeen()).toEqual(['allowed']);
      expect(await adminSeen()).toEqual(['prohibited']);
      expect(tb.broker.stats.droppedUnauthorized).toBe(1);
    } finally {
      await tb.close();
    }
  });
});
