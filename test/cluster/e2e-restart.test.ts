/**
 * A node restarted under the same node id (a StatefulSet pod, or a crash and a restart within the
 * node TTL, so that no survivor ever saw it die): the Will records of its earlier run are handed
 * to the survivors as a dead node's, not deleted (docs/cluster.md "Wills of a dead node's
 * clients"). One broker process (no other survivor: its own reaper claims them), one
 * redis-server. Needs dist/.
 */
import { killClusterNodes, startCluster, type TestCluster } from '../helpers/cluster-nodes';
import { waitFor } from '../helpers/wait';
import { collect, connectTo, endClients } from './cluster-clients';

describe('cluster: a node restarted under the same node id (real redis-server)', () => {
  let cluster: TestCluster;
  beforeEach(async () => {
    cluster = await startCluster({ nodes: 1 });
  }, 30000);
  afterEach(async () => {
    await endClients();
    await cluster?.stop();
  });
  afterAll(() => killClusterNodes());

  it('SIGKILL and an immediate restart with the same node id: the Wills of the crashed run\'s clients are still published (retained here, so the observer sees them whenever it subscribes)', async () => {
    const will = (t: string) => ({ topic: `will/${t}`, payload: Buffer.from(t), qos: 1 as const, retain: true });
    await connectTo(cluster.url(0), { clientId: 'rs-p', protocolVersion: 4, clean: false, will: will('p'), reconnectPeriod: 0 });
    await connectTo(cluster.url(0), { clientId: 'rs-v5', protocolVersion: 5, clean: true, will: will('v5'), reconnectPeriod: 0 });
    await cluster.restart(0); // SIGKILL, then the same port and node id at once
    const observer = await connectTo(cluster.url(0), { clientId: 'rs-watch' });
    const got = collect(observer);
    await observer.subscribeAsync('will/#', { qos: 1 });
    await waitFor(() => got.length >= 2, 10000, 'both Wills of the crashed run');
    expect(got.map((m) => `${m.topic}=${m.payload}`).sort()).toEqual(['will/p=p', 'will/v5=v5']);
  }, 30000);
});
