/**
 * UDP connection requests across ACS instances (issue #8): the datagram leaves from the STUN
 * socket that holds the device's NAT binding, whichever instance was asked.
 *
 * Why relay rather than send from the asked instance: a NAT maps the CPE's UDP port for the peer
 * its Binding Requests went to, and most home NATs filter what comes back by that peer's address
 * AND port (address- and port-dependent filtering, RFC 4787). Only a datagram from the very socket
 * the binding was made towards (instance A's STUN address:port) is sure to get in; one from
 * instance B's socket is dropped by such a NAT. Behind a UDP load balancer the same holds: the
 * balancer translates the source back to the shared address only for the backend that owns the
 * flow. So instance B, asked to wake a device whose binding A holds, builds and signs the datagram
 * (B has the credentials) and asks A over LISTEN/NOTIFY (`nat.send`: the bytes, base64, and the
 * destination; no credentials travel) to send it; A answers `nat.sent`.
 *
 * Fallback: when A does not answer within `ackTimeoutMs` (A died, or its listener is reconnecting),
 * B sends from its own STUN socket. That still wakes devices behind endpoint-independent-filtering
 * NATs and devices with a public address; the result's detail says which way it went.
 */
import { randomUUID } from 'node:crypto';
import type { ClusterLink } from '../cluster/context.ts';
import type { DatagramSender } from './udp-transport.ts';

export interface NatRelayOptions {
  link: ClusterLink;
  /** This instance's STUN socket. */
  local: DatagramSender;
  /** How long to wait for the holder's acknowledgement (ms, default 500). */
  ackTimeoutMs?: number;
  onError?: (err: Error) => void;
}

/** A running relay: its `sender` goes to the UDP transport. */
export interface NatRelay {
  readonly sender: DatagramSender;
  readonly stats: { relayed: number; served: number; fellBack: number };
  close(): Promise<void>;
}

const DEFAULT_ACK_TIMEOUT_MS = 500;

/**
 * Subscribes to the relay channels: serves other instances' send requests from `local`, and gives
 * a sender that relays to the holder.
 * @returns the relay.
 */
export async function startNatRelay(options: NatRelayOptions): Promise<NatRelay> {
  const { link, local } = options;
  const report = (err: unknown) => options.onError?.(err instanceof Error ? err : new Error(String(err)));
  const acks = new Map<string, (ack: { ok: boolean; detail: string }) => void>();
  const stats = { relayed: 0, served: 0, fellBack: 0 };

  const unsubscribeSend = await link.notifier.subscribe('nat.send', (msg, meta) => {
    if (msg.to !== link.origin || meta.fromSelf) return;
    stats.served++;
    local.send(Buffer.from(msg.data, 'base64'), msg.port, msg.address).then(
      () => link.notifier.publish('nat.sent', { to: meta.origin, id: msg.id, ok: true, detail: 'sent' }),
      (err: Error) => link.notifier.publish('nat.sent', { to: meta.origin, id: msg.id, ok: false, detail: (err as NodeJS.ErrnoException).code ?? err.message }),
    ).catch(report);
  });
  const unsubscribeSent = await link.notifier.subscribe('nat.sent', (msg) => {
    if (msg.to !== link.origin) return;
    acks.get(msg.id)?.({ ok: msg.ok, detail: msg.detail });
  });

  const relay = (data: Uint8Array | string, port: number, address: string, via: string): Promise<{ ok: boolean; detail: string }> => {
    const id = randomUUID();
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : Buffer.from(data);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        acks.delete(id);
        resolve({ ok: false, detail: `no answer within ${options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS} ms` });
      }, options.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS);
      timer.unref();
      acks.set(id, (ack) => {
        clearTimeout(timer);
        acks.delete(id);
        resolve(ack);
      });
      link.notifier.publish('nat.send', { to: via, id, data: bytes.toString('base64'), address, port }).catch((err: unknown) => {
        clearTimeout(timer);
        acks.delete(id);
        resolve({ ok: false, detail: err instanceof Error ? err.message : String(err) });
      });
    });
  };

  const sender: DatagramSender = {
    async send(data, port, address, via) {
      if (via === undefined || via === link.origin) return local.send(data, port, address, via);
      const ack = await relay(data, port, address, via);
      if (ack.ok) {
        stats.relayed++;
        return `relayed to the instance holding the binding (${via.slice(0, 8)})`;
      }
      stats.fellBack++;
      await local.send(data, port, address);
      return `sent from this instance's STUN socket: the instance holding the binding (${via.slice(0, 8)}) did not send it (${ack.detail})`;
    },
  };

  return {
    sender,
    stats,
    async close() {
      for (const resolve of acks.values()) resolve({ ok: false, detail: 'relay closed' });
      acks.clear();
      await Promise.all([unsubscribeSend().catch(() => undefined), unsubscribeSent().catch(() => undefined)]);
    },
  };
}
