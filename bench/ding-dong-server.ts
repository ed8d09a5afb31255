/**
 * The comparison the issue asks for: the same work as the bare baseline (read the environment, set three
 * variables one at a time, close) written with `ding-dong`, a small FastAGI library from npm (a dev dependency,
 * used only here).
 */
import net from 'node:net';
// ding-dong's own start() cannot listen on port 0 (it treats 0 as "use 3000"), so its per-connection Context is
// driven from a node:net server here, exactly as its start() does.
import DingDongContext from 'ding-dong/lib/context.js';

export async function startDingDongServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((stream) => {
    const context = new DingDongContext(stream, { debug: false });
    context.onEvent('variables')
      .then(async () => {
        await context.setVariable('RCRM_MANAGER', '101');
        await context.setVariable('RCRM_CUSTOMER_ID', '42');
        await context.setVariable('RCRM_LOOKUP', 'FOUND');
        await context.end();
      })
      .catch(() => undefined);
  });
  server.listen(0, '127.0.0.1');
  server.on('connection', (s: net.Socket) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => {
    if (server.listening) resolve();
    else server.once('listening', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
