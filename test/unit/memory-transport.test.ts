import { MemoryTransport, settle } from '../helpers/memory-transport';
import { hex } from '../helpers/raw';

/** The test double itself: it must behave like the parts of net.Socket that Connection relies on. */
describe('MemoryTransport', () => {
  it('client bytes arrive as data; while paused they are held and delivered in order on resume', () => {
    const t = new MemoryTransport();
    const seen: string[] = [];
    t.on('data', (b: Buffer) => void seen.push(b.toString()));
    t.client.send(Buffer.from('a'));
    t.pause();
    t.client.send(Buffer.from('b'));
    t.client.send(Buffer.from('c'));
    expect(seen).toEqual(['a']);
    expect(t.heldBytes).toBe(2);
    t.resume();
    expect(seen).toEqual(['a', 'b', 'c']);
    expect([t.pauseCalls, t.resumeCalls]).toEqual([1, 1]);
  });

  it('a data handler that pauses stops the delivery of what is still held', () => {
    const t = new MemoryTransport();
    const seen: string[] = [];
    t.on('data', (b: Buffer) => {
      seen.push(b.toString());
      if (b.toString() === 'b') t.pause();
    });
    t.pause();
    for (const s of ['a', 'b', 'c']) t.client.send(Buffer.from(s));
    t.resume();
    expect(seen).toEqual(['a', 'b']);
    t.resume();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('a slow reader: writableLength grows, write() is false at the high-water mark, drain when read', () => {
    const t = new MemoryTransport(10);
    let drains = 0;
    t.on('drain', () => void drains++);
    t.client.stopReading();
    expect(t.write(Buffer.alloc(6))).toBe(true);
    expect(t.write(Buffer.alloc(6))).toBe(false);
    expect(t.writableLength).toBe(12);
    t.client.read();
    expect(t.writableLength).toBe(0);
    expect(drains).toBe(1);
    t.client.read();
    expect(drains).toBe(1); // no write waited
  });

  it('frames what the server writes into packets, across and within writes', () => {
    const t = new MemoryTransport();
    t.write(hex('20 02 00'));
    t.write(hex('00 d0 00'));
    expect(t.client.inbox.map((p) => p.type)).toEqual([2, 13]);
  });

  it('destroySoon closes once the client read everything; destroy at once; close is emitted once', async () => {
    const t = new MemoryTransport();
    let closes = 0;
    t.on('close', () => void closes++);
    t.client.stopReading();
    t.write(hex('d0 00'));
    t.destroySoon();
    await settle();
    expect([t.destroyed, closes]).toEqual([false, 0]);
    t.client.read();
    await settle();
    expect([t.destroyed, closes, t.client.closed]).toEqual([true, 1, true]);
    expect(t.client.inbox).toHaveLength(1);
    t.destroy();
    await settle();
    expect(closes).toBe(1);
    expect(t.write(hex('d0 00'))).toBe(false);
  });
});
