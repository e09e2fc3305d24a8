/**
 * Self-test of the namespace harness (test/helpers/netns.ts): a UDP echo through the NAT, the
 * masquerade seen from the WAN side, the LAN unreachable from the WAN, only the binding's peer
 * getting back in, and the namespaces gone afterwards.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createNatTopology, listNamespaces, netnsSupport, type NatTopology, type NsProcess } from '../helpers/netns.ts';

const support = netnsSupport();
const skip = support.ok ? false : `skipped: ${support.reason}`;
if (!support.ok) console.log(`# netns harness self-test ${skip}`);

const PEER = fileURLToPath(new URL('./fixtures/udp-peer.ts', import.meta.url));
const WAIT_MS = 10_000;

describe('network namespace NAT harness', { skip }, () => {
  let topo: NatTopology;
  let echo: NsProcess;
  let echoPort: number;
  before(async () => {
    topo = await createNatTopology();
    echo = topo.spawnNode(topo.wan.name, [PEER, 'echo']);
    echoPort = (await echo.waitFor<{ port: number }>((m) => (m as { ready?: boolean }).ready === true, WAIT_MS)).port;
  });
  after(async () => {
    const names = topo ? [topo.wan.name, topo.router.name, topo.lan.name] : [];
    await topo?.destroy();
    const left = listNamespaces().filter((n) => names.includes(n));
    assert.deepEqual(left, [], 'namespaces removed');
  });

  test('UDP from the LAN reaches the WAN masqueraded to the router address with another port, and the answer comes back', async () => {
    const client = topo.spawnNode(topo.lan.name, [PEER, 'client', topo.wan.address, String(echoPort)]);
    const reply = await client.waitFor<{ reply: string; localPort: number }>((m) => typeof (m as { reply?: string }).reply === 'string', WAIT_MS);
    const [seenAddress, seenPort] = reply.reply.split(':');
    assert.equal(seenAddress, topo.router.wanAddress, 'the ACS side sees the router, not the CPE');
    assert.notEqual(seenAddress, topo.lan.address);
    assert.notEqual(Number(seenPort), reply.localPort, 'masquerade --random changed the port');

    // Only the peer the binding was made towards gets back in: a datagram from another port of the
    // same host is not forwarded to the client, one from the echo socket is.
    const mapped = { address: seenAddress, port: Number(seenPort) };
    echo.send({ sendFrom: 'other', to: mapped });
    await echo.waitFor((m) => (m as { sentOther?: string }).sentOther !== undefined, WAIT_MS);
    echo.send({ sendFrom: 'same', to: mapped });
    const later = await client.waitFor<{ later: string }>((m) => typeof (m as { later?: string }).later === 'string', WAIT_MS);
    assert.equal(later.later, 'welcome');
    assert.deepEqual(
      client.messages.filter((m) => (m as { later?: string }).later !== undefined).map((m) => (m as { later: string }).later),
      ['welcome'],
      'the intruder datagram from another port was not let in',
    );
  });

  test('the LAN is unreachable from the WAN side (no route; HTTP connection requests fail at once)', async () => {
    const probe = topo.spawnNode(topo.wan.name, [PEER, 'probe', topo.lan.address, '7547']);
    const r = await probe.waitFor<{ tcp: string; udp: string }>((m) => (m as { tcp?: string }).tcp !== undefined, WAIT_MS);
    assert.equal(r.tcp, 'ENETUNREACH');
    assert.equal(r.udp, 'ENETUNREACH');
  });

  test('the router answers nothing on behalf of the LAN: a direct TCP connection to its public address is refused', async () => {
    const probe = topo.spawnNode(topo.wan.name, [PEER, 'probe', topo.router.wanAddress, '7547']);
    const r = await probe.waitFor<{ tcp: string }>((m) => (m as { tcp?: string }).tcp !== undefined, WAIT_MS);
    assert.equal(r.tcp, 'ECONNREFUSED');
  });
});
