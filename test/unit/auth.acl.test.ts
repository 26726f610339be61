import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AclFileError, AclFilePlugin, parseAclFile } from '../../src/core/auth/acl-file';
import { covers, levels, matches, overlaps } from '../../src/core/auth/topic-match';
import { TopicAclPlugin, TopicTabooPlugin } from '../../src/core/auth/topic-plugins';
import type { ClientInfo } from '../../src/core/hooks/plugin';

const dir = mkdtempSync(join(tmpdir(), 'nestmq-acl-'));
let seq = 0;
function aclFile(text: string): string {
  const file = join(dir, `acl${++seq}`);
  writeFileSync(file, text);
  return file;
}

const client = (username: string | null, clientId = 'c1'): ClientInfo => ({ username, clientId, remoteAddress: '127.0.0.1:1', listener: 'default' });

describe('topic relations against a brute-force reference', () => {
  // Every valid filter of up to 3 levels over a small alphabet, every topic of up to 4 levels over
  // the literals plus one that no filter uses (so that `+` and `#` are seen to match "anything").
  const filterLevels = ['a', 'b', '$x', '', '+', '#'];
  const topicLevels = ['a', 'b', '$x', '', 'z'];
  const filters: string[] = [];
  const grow = (prefix: string[], depth: number): void => {
    for (const l of filterLevels) {
      const f = [...prefix, l];
      if (prefix.includes('#')) continue;
      filters.push(f.join('/'));
      if (depth > 1 && l !== '#') grow(f, depth - 1);
    }
  };
  grow([], 3);
  const topics: string[] = [];
  const growT = (prefix: string[], depth: number): void => {
    for (const l of topicLevels) {
      const t = [...prefix, l];
      topics.push(t.join('/'));
      if (depth > 1) growT(t, depth - 1);
    }
  };
  growT([], 4);
  const ref = (filter: string, topic: string): boolean => {
    if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
    const f = filter.split('/');
    const t = topic.split('/');
    for (let i = 0; i < f.length; i++) {
      if (f[i] === '#') return true;
      if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
    }
    return f.length === t.length;
  };
  const matchedBy = new Map(filters.map((f) => [f, topics.filter((t) => ref(f, t))]));

  it('matches() agrees with the reference on every filter x topic', () => {
    for (const f of filters)
      for (const t of topics) if (matches(levels(f), levels(t)) !== ref(f, t)) throw new Error(`matches(${f}, ${t}) should be ${ref(f, t)}`);
  });

  it('covers(rule, filter) holds exactly when every topic of the filter matches the rule', () => {
    for (const rule of filters)
      for (const filter of filters) {
        const expected = matchedBy.get(filter)!.every((t) => ref(rule, t));
        if (covers(levels(rule), levels(filter)) !== expected) throw new Error(`covers(${rule}, ${filter}) should be ${expected}`);
      }
  });

  it('overlaps(a, b) holds exactly when some topic matches both', () => {
    for (const a of filters)
      for (const b of filters) {
        const expected = matchedBy.get(a)!.some((t) => ref(b, t));
        if (overlaps(levels(a), levels(b)) !== expected) throw new Error(`overlaps(${a}, ${b}) should be ${expected}`);
      }
  });
});

describe('topic_taboo (hbmqtt)', () => {
  const p = new TopicTabooPlugin();
  it.each([
    ['bob', 'prohibited', false],
    ['bob', 'top-secret', false],
    ['bob', 'data/classified', false],
    ['bob', 'data/public', undefined],
    [null, 'prohibited', false],
    ['admin', 'prohibited', undefined],
  ] as const)('user %s, topic %s: publish/subscribe/delivery -> %s', (user, topic, verdict) => {
    expect(p.authorizePublish(client(user), topic)).toBe(verdict);
    expect(p.authorizeSubscribe(client(user), topic)).toBe(verdict);
    expect(p.authorizeDelivery(client(user), topic)).toBe(verdict);
  });
});

describe('topic_acl (hbmqtt acl, amqtt publish-acl)', () => {
  const p = new TopicAclPlugin({
    acl: { alice: ['home/alice/#', 'public/+'], anonymous: ['public/#'], empty: [] },
    publishAcl: { alice: ['home/alice/+/set'], anonymous: [] },
  });
  it.each([
    ['alice', 'home/alice/#', undefined],
    ['alice', 'home/alice/kitchen/temp', undefined],
    ['alice', 'home/+/kitchen', undefined], // can receive home/alice/kitchen
    ['alice', '#', undefined], // granted; deliveries filtered
    ['alice', 'home/bob/#', false],
    ['alice', 'public/a/b', false],
    ['alice', '$SYS/#', false],
    [null, 'public/news', undefined],
    [null, 'home/#', false],
    ['empty', 'public/x', false],
    ['mallory', 'public/x', false], // not in the acl
    ['constructor', 'x', false], // no prototype keys
  ] as const)('subscribe: %s to %s -> %s', (user, filter, verdict) => {
    expect(p.authorizeSubscribe(client(user), filter)).toBe(verdict);
  });
  it.each([
    ['alice', 'home/alice/kitchen/temp', undefined],
    ['alice', 'public/news', undefined],
    ['alice', 'public/news/today', false],
    ['alice', 'home/bob/x', false],
    ['alice', '$SYS/broker/uptime', false],
    [null, 'public/news/today', undefined],
    ['mallory', 'public/news', false],
  ] as const)('delivery: %s reads %s -> %s', (user, topic, verdict) => {
    expect(p.authorizeDelivery(client(user), topic)).toBe(verdict);
  });
  it.each([
    ['alice', 'home/alice/lamp/set', undefined],
    ['alice', 'home/alice/lamp', false],
    [null, 'public/news', false],
    ['mallory', 'anything', false],
  ] as const)('publish: %s to %s -> %s', (user, topic, verdict) => {
    expect(p.authorizePublish(client(user), topic)).toBe(verdict);
  });
  it('without publish-acl publishing is not restricted (amqtt), without acl reading is not', () => {
    const subOnly = new TopicAclPlugin({ acl: { alice: ['a/#'] } });
    expect(subOnly.authorizePublish(client('alice'), 'anywhere')).toBeUndefined();
    expect(subOnly.authorizeSubscribe(client('alice'), 'b')).toBe(false);
    const pubOnly = new TopicAclPlugin({ publishAcl: { alice: ['a/#'] } });
    expect(pubOnly.authorizeSubscribe(client('alice'), 'b')).toBeUndefined();
    expect(pubOnly.authorizeDelivery(client('alice'), 'b')).toBeUndefined();
    expect(pubOnly.authorizePublish(client('alice'), 'b')).toBe(false);
  });
  it('coversFilter tells a fully readable filter from a partly readable one', () => {
    expect(p.coversFilter(client('alice'), 'home/alice/+/temp')).toBe(true);
    expect(p.coversFilter(client('alice'), '#')).toBe(false);
  });
});

describe('Mosquitto acl_file parsing', () => {
  it('sorts rules into anonymous, per-user and pattern lists, deny first', () => {
    const acl = parseAclFile(
      [
        '# comment',
        'topic read $SYS/#',
        'topic public/#',
        '',
        'user alice',
        'topic readwrite home/alice/#',
        'topic deny home/alice/secret/#',
        'pattern write devices/%c/status',
        'user bob smith',
        '  topic read with space/in topic',
        'topic read',
        'pattern read users/%u/#',
      ].join('\n'),
    );
    expect(acl.anonymous.map((r) => [r.access, r.topic])).toEqual([
      ['read', '$SYS/#'],
      ['readwrite', 'public/#'],
    ]);
    expect(acl.users.get('alice')!.map((r) => [r.access, r.topic])).toEqual([
      ['deny', 'home/alice/secret/#'],
      ['readwrite', 'home/alice/#'],
    ]);
    expect(acl.users.get('bob smith')!.map((r) => [r.access, r.topic])).toEqual([
      ['read', 'with space/in topic'],
      ['readwrite', 'read'], // a lone word is the topic, not an access
    ]);
    expect(acl.patterns.map((r) => [r.access, r.topic, r.usesUsername])).toEqual([
      ['write', 'devices/%c/status', false],
      ['read', 'users/%u/#', true],
    ]);
  });

  it('reports every bad line at once', () => {
    let err: unknown;
    try {
      parseAclFile('topic read a/#/b\nuser\nallow a\ntopic\npattern deny +/x#\n', 'f.acl');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AclFileError);
    expect((err as AclFileError).problems).toEqual([
      'line 1: "a/#/b" is not a valid topic filter',
      'line 2: "user" needs a username',
      'line 3: unknown keyword "allow" (expected user, topic or pattern)',
      'line 4: "topic" needs a topic',
      'line 5: "+/x#" is not a valid topic filter',
    ]);
    expect((err as Error).message).toMatch(/^f\.acl: invalid ACL file/);
  });
});

describe('Mosquitto acl_file decisions', () => {
  const p = new AclFilePlugin({
    aclFile: aclFile(
      [
        'topic read $SYS/broker/#',
        'topic read public/#',
        'user alice',
        'topic readwrite home/alice/#',
        'topic deny home/alice/secret/#',
        'topic write alerts/#',
        'topic read news/#',
        'user bob',
        'topic read home/+/temp',
        'pattern readwrite users/%u/#',
        'pattern write devices/%c/status',
        'pattern read devices/%c/cmd/#',
        'pattern deny users/%u/private',
      ].join('\n'),
    ),
  });
  const check = (user: string | null, clientId: string, topic: string, want: 'read' | 'write'): boolean => p.check({ username: user, clientId }, topic, want);

  it.each([
    // anonymous rules
    [null, 'c', '$SYS/broker/uptime', 'read', true],
    [null, 'c', '$SYS/broker/uptime', 'write', false],
    [null, 'c', 'public/x', 'read', true],
    [null, 'c', 'home/alice/x', 'read', false],
    // alice's own rules; deny before grant
    ['alice', 'c', 'home/alice/kitchen', 'read', true],
    ['alice', 'c', 'home/alice/kitchen', 'write', true],
    ['alice', 'c', 'home/alice/secret/diary', 'read', false],
    ['alice', 'c', 'home/alice/secret', 'write', false],
    ['alice', 'c', 'alerts/fire', 'write', true],
    ['alice', 'c', 'alerts/fire', 'read', false],
    ['alice', 'c', 'news/today', 'read', true],
    ['alice', 'c', 'public/x', 'read', false], // anonymous rules are not alice's
    // bob: +
    ['bob', 'c', 'home/alice/temp', 'read', true],
    ['bob', 'c', 'home/alice/temp', 'write', false],
    // patterns: %u and %c, for every client
    ['alice', 'c', 'users/alice/inbox', 'read', true],
    ['alice', 'c', 'users/bob/inbox', 'read', false],
    ['bob', 'c', 'users/bob', 'write', true],
    ['bob', 'c', 'users/bob/private', 'read', false], // pattern deny
    ['carol', 'sensor-7', 'devices/sensor-7/status', 'write', true],
    ['carol', 'sensor-7', 'devices/sensor-8/status', 'write', false],
    ['carol', 'sensor-7', 'devices/sensor-7/cmd/reboot', 'read', true],
    ['carol', 'sensor-7', 'devices/sensor-7/status', 'read', false],
    [null, 'sensor-7', 'devices/sensor-7/status', 'write', true], // %c applies to anonymous clients
    [null, 'c', 'users/%u/x', 'read', false], // %u patterns skip anonymous clients
    // usernames and client ids with wildcards get nothing from patterns
    ['ev+l', 'c', 'users/ev+l/x', 'read', false],
    ['x', '#', 'devices/#/status', 'write', false],
    // $ topics need rules starting with $
    ['alice', 'c', '$SYS/broker/uptime', 'read', false],
  ] as const)('%s (client %s) %s %s -> %s', (user, clientId, topic, want, verdict) => {
    expect(check(user, clientId, topic, want)).toBe(verdict);
  });

  it.each([
    ['alice', 'home/alice/#', undefined],
    ['alice', 'home/alice/secret/#', false], // covered by a deny
    ['alice', 'home/alice/secret/+', false],
    ['alice', 'home/#', undefined], // partly readable: deliveries are filtered
    ['alice', '#', undefined],
    ['alice', 'alerts/#', false], // write-only
    ['alice', 'users/alice/#', undefined], // via pattern
    ['alice', 'users/bob/#', false],
    ['bob', 'users/bob/private', false], // pattern deny covers it
    ['bob', 'home/+/temp', undefined],
    ['bob', 'home/alice/humidity', false],
    [null, '$SYS/#', undefined],
    [null, 'home/#', false],
    ['carol', 'devices/c1/cmd/#', undefined],
  ] as const)('subscribe: %s to %s -> %s', (user, filter, verdict) => {
    expect(p.authorizeSubscribe(client(user, 'c1'), filter)).toBe(verdict);
  });

  it('delivery and publish use read and write access', () => {
    expect(p.authorizeDelivery(client('alice'), 'home/alice/secret/x')).toBe(false);
    expect(p.authorizeDelivery(client('alice'), 'home/alice/x')).toBeUndefined();
    expect(p.authorizePublish(client('alice'), 'alerts/x')).toBeUndefined();
    expect(p.authorizePublish(client('alice'), 'news/x')).toBe(false);
  });

  it('an empty file denies everything', () => {
    const empty = new AclFilePlugin({ aclFile: aclFile('# nothing\n') });
    expect(empty.check({ username: 'alice', clientId: 'c' }, 'a', 'read')).toBe(false);
    expect(empty.authorizeSubscribe(client('alice'), '#')).toBe(false);
  });

  it('a missing or invalid file throws at construction; reload keeps the old rules on error', async () => {
    expect(() => new AclFilePlugin({ aclFile: join(dir, 'missing') })).toThrow(/topic-check\.acl-file: cannot read .*missing/);
    const file = aclFile('user alice\ntopic read a/#\n');
    const q = new AclFilePlugin({ aclFile: file });
    writeFileSync(file, 'user alice\ntopic bogus a/#/b\n');
    await expect(q.reload()).rejects.toThrow(/invalid ACL file/);
    expect(q.check({ username: 'alice', clientId: 'c' }, 'a/x', 'read')).toBe(true);
    writeFileSync(file, 'user alice\ntopic read b/#\n');
    await q.reload();
    expect(q.check({ username: 'alice', clientId: 'c' }, 'a/x', 'read')).toBe(false);
    expect(q.check({ username: 'alice', clientId: 'c' }, 'b/x', 'read')).toBe(true);
  });
});
