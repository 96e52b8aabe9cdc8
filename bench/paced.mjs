// An open-loop load at a steady rate, for the half-load row and the soak. autocannon's rate limit
// lets each connection send its quota for the second as fast as it can and then wait, so "half load"
// is full load half of the time; here each request is sent at its own time (rate × elapsed), and its
// latency is counted from that time, so a server that falls behind is charged for the wait too (and so
// is this process when its own event loop is late: its delay p99 comes with the result).
//
// It keeps `connections` TLS connections open, as the kube-apiserver keeps its connections to a
// webhook, and speaks HTTP/1.1 on them itself: a request line, three headers and the body, one request
// at a time per connection, answers framed by their content-length. node:https's Agent, which this
// used before, cost this process 150-170 µs of CPU per request on the two cores it shares with the
// server (more than the server's event loop spends on one), and its own delays were counted as the
// server's; this costs about 75.
import { connect } from 'node:tls';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export async function paced({ port, ca, route, bodies, rate, seconds, connections = 16, prepare = (body) => body }) {
  const latencies = [];
  let errors = 0;
  let sent = 0;
  let inFlight = 0;
  let finished = false;
  const total = Math.floor(rate * seconds);
  const idle = [];
  const waiting = [];
  const open = new Set();
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });

  const write = (conn, request) => {
    conn.current = request;
    const body = Buffer.from(request.body);
    const head = `POST ${route} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`;
    conn.socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
  };

  const release = (conn) => {
    const next = waiting.shift();
    if (next) write(conn, next);
    else idle.push(conn);
  };

  /** An answer's bytes: once its head and content-length's worth of body are in, the request is done. */
  const receive = (conn, chunk) => {
    conn.buffer = conn.buffer.length > 0 ? Buffer.concat([conn.buffer, chunk]) : chunk;
    const request = conn.current;
    if (!request) {
      conn.socket.destroy(new Error('an answer to no request'));
      return;
    }
    if (request.bodyStart === undefined) {
      const end = conn.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = conn.buffer.toString('latin1', 0, end);
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length) {
        conn.socket.destroy(new Error(`an answer without content-length: ${head.split('\r\n')[0]}`));
        return;
      }
      request.status = Number(head.slice(9, 12));
      request.bodyStart = end + 4;
      request.length = Number(length[1]);
    }
    const answered = request.bodyStart + request.length;
    if (conn.buffer.length < answered) return;
    if (conn.buffer.length > answered) {
      conn.socket.destroy(new Error('more bytes than the answer'));
      return;
    }
    conn.buffer = Buffer.alloc(0);
    conn.current = undefined;
    inFlight -= 1;
    if (request.status === 200) latencies.push(performance.now() - request.scheduled);
    else errors += 1;
    release(conn);
  };

  /** A connection; one the server closes is replaced while the run lasts, and its request counted as an error. */
  const connection = () =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' });
      const conn = { socket, buffer: Buffer.alloc(0), current: undefined };
      socket.once('secureConnect', () => {
        socket.setNoDelay(true);
        open.add(conn);
        resolve(conn);
      });
      socket.on('data', (chunk) => receive(conn, chunk));
      socket.on('error', reject);
      socket.on('close', () => {
        if (!open.delete(conn)) return;
        const at = idle.indexOf(conn);
        if (at >= 0) idle.splice(at, 1);
        if (conn.current) {
          conn.current = undefined;
          inFlight -= 1;
          errors += 1;
        }
        if (!finished) connection().then(release, () => undefined);
      });
    });

  for (let index = 0; index < connections; index++) idle.push(await connection());
  loopDelay.enable();
  const start = performance.now();

  const send = (index) => {
    const request = { scheduled: start + (index * 1000) / rate, body: prepare(bodies[index % bodies.length]) };
    inFlight += 1;
    const conn = idle.pop();
    if (conn) write(conn, request);
    else waiting.push(request);
  };

  return new Promise((resolve) => {
    const tick = setInterval(() => {
      // Requests 0..n are due once request n's time (start + n / rate) has come.
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) send(sent++);
      if (sent < total) return;
      clearInterval(tick);
      const waitUntil = performance.now() + 10_000;
      const drain = setInterval(() => {
        if (inFlight > 0 && performance.now() < waitUntil) return;
        clearInterval(drain);
        finished = true;
        for (const conn of open) conn.socket.destroy();
        latencies.sort((a, b) => a - b);
        const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
        loopDelay.disable();
        resolve({ requests: latencies.length, errors: errors + inFlight, latencyMs: { p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? 0 }, clientLoopDelayP99Ms: loopDelay.percentile(99) / 1e6 });
      }, 20);
    }, 1);
  });
}
