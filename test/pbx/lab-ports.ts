/**
 * Where the PBX tier's lab listens: 7 consecutive ports from PBX_LAB_PORT_BASE (so labs of several checkouts can
 * run side by side), on 127.0.0.1 except the sim's desk phones, which have a loopback address each.
 */
import dgram from 'node:dgram';
import net from 'node:net';

/** The lab's ports by name: pbx IAX2, sim carrier, phones 101-103 over UDP; pbx and sim AMI over TCP. */
export function labPorts(base: number): Readonly<Record<string, number>> {
  return { PBX_IAX: base, SIM_CARRIER: base + 1, SIM_101: base + 2, SIM_102: base + 3, SIM_103: base + 4, PBX_AMI: base + 5, SIM_AMI: base + 6 };
}

/**
 * The sim's desk phones each have their own loopback address (Linux routes all of 127.0.0.0/8 to lo); everything
 * else is on 127.0.0.1. With one IP, the pbx's chan_iax2 mixed up the phones' simultaneous CALLTOKEN replies
 * (all sent from call number 1) and dropped one: a queue member then rang 2 or 12 s late (lab/pbx/iax.conf).
 */
export const LAB_HOSTS: Readonly<Record<string, string>> = { SIM_101: '127.0.0.2', SIM_102: '127.0.0.3', SIM_103: '127.0.0.4' };

function hostOf(portName: string): string {
  return LAB_HOSTS[portName] ?? '127.0.0.1';
}

/** Fails with a clear message when a lab port is taken (a lab left running by a killed test run, say). */
export async function assertPortsFree(ports: Readonly<Record<string, number>>): Promise<void> {
  for (const [name, port] of Object.entries(ports)) {
    const tcp = name.endsWith('_AMI');
    const host = hostOf(name);
    const free = await new Promise<boolean>((resolve) => {
      if (tcp) {
        const server = net.createServer();
        server.once('error', () => resolve(false));
        server.listen(port, host, () => server.close(() => resolve(true)));
      } else {
        const socket = dgram.createSocket('udp4');
        socket.once('error', () => resolve(false));
        socket.bind(port, host, () => socket.close(() => resolve(true)));
      }
    });
    if (!free) {
      throw new Error(`PBX lab: ${host}:${port} (${name}) is taken; is an old lab still running (pkill -f 'asterisk -C')? ` +
        'Or set PBX_LAB_PORT_BASE to another range.');
    }
  }
}
