/**
 * The baseline: a bare FastAGI server on plain node:net that accepts, reads the environment block, sets three
 * variables (one command at a time, waiting for each answer) and closes. No lookup, no logging, no database.
 */
import net from 'node:net';

export async function startBareAgiServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let envDone = false;
    let sent = 0;
    const commands = ['SET VARIABLE RCRM_MANAGER "101"', 'SET VARIABLE RCRM_CUSTOMER_ID "42"', 'SET VARIABLE RCRM_LOOKUP "FOUND"'];
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!envDone) {
          if (line === '') {
            envDone = true;
            socket.write(`${commands[sent++]}\n`);
          }
          continue;
        }
        if (!line.startsWith('200')) continue;
        if (sent < commands.length) socket.write(`${commands[sent++]}\n`);
        else socket.end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
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
