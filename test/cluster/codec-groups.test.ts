/** The bus frame's share-group section (cluster/codec.ts): which groups the receiver was picked for. */
import { ClusterCodecError, decodeBatch, encodeFrame } from '../../src/core/cluster/codec';
import type { ClusterMessage } from '../../src/core/cluster/types';

const base: ClusterMessage = { topic: 'sh/x', payload: Buffer.from('p'), qos: 1, retain: false, origin: 'a', publisherId: 'pub', properties: null };

function decodeAll(batch: Buffer): ClusterMessage[] {
  const out: ClusterMessage[] = [];
  decodeBatch(batch, 'a', (m) => out.push({ ...m, payload: Buffer.from(m.payload) }));
  return out;
}

describe('cluster codec: share groups', () => {
  it('carries the groups a node was picked for and whether its plain subscriptions get the message', () => {
    const frames = [
      encodeFrame({ ...base, groups: ['$share/g1/sh/#', '$share/ü/sh/+'], plain: false }),
      encodeFrame({ ...base, groups: ['$share/g2/sh/#'] }),
      encodeFrame(base),
    ];
    const got = decodeAll(Buffer.concat(frames));
    expect(got[0]).toMatchObject({ topic: 'sh/x', groups: ['$share/g1/sh/#', '$share/ü/sh/+'], plain: false });
    expect(got[1].groups).toEqual(['$share/g2/sh/#']);
    expect(got[1].plain).not.toBe(false);
    expect(got[2].groups ?? null).toBeNull();
    expect(got[2].plain).not.toBe(false);
  });

  it('refuses a truncated group section instead of reading past the entry', () => {
    const frame = encodeFrame({ ...base, groups: ['$share/g1/sh/#'] });
    for (let cut = frame.length - 1; cut > frame.length - 18; cut--) {
      expect(() => decodeAll(frame.subarray(0, cut))).toThrow(ClusterCodecError);
    }
  });
});
