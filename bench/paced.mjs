// An open-loop load at a steady rate, for the half-load row and the soak. autocannon's rate limit
// lets each connection send its quota for the second as fast as it can and then wait, so "half load"
// is full load half of the time; here each request is sent at its own time (rate × elapsed), and its
// latency is counted from that time, so a server that falls behind is charged for the wait too (and so
// is this process when its own event loop is late: its delay p99 comes with the result).
import { Agent, request as httpsRequest } from 'node:https';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export function paced({ port, ca, route, bodies, rate, seconds, connections = 16, prepare = (body) => body }) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections, ca, servername: 'localhost' });
  const latencies = [];
  let errors = 0;
  let sent = 0;
  let inFlight = 0;
  const start = performance.now();
  const total = Math.floor(rate * seconds);
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  loopDelay.enable();

  const send = (index) => {
    const scheduled = start + (index * 1000) / rate;
    const body = prepare(bodies[index % bodies.length]);
    inFlight += 1;
    const finish = (ok) => {
      inFlight -= 1;
      if (ok) latencies.push(performance.now() - scheduled);
      else errors += 1;
    };
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: route, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (response) => {
        response.resume();
        response.on('end', () => finish(response.statusCode === 200));
      },
    );
    // Without it a small request can wait for the previous segment's ACK (Nagle's algorithm).
    req.on('socket', (socket) => socket.setNoDelay(true));
    req.on('error', () => finish(false));
    req.end(body);
  };

  return new Promise((resolve) => {
    const tick = setInterval(() => {
      // Requests 0..n are due once request n's time (start + n / rate) has come.
      const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      while (sent < due) send(sent++);
      if (sent >= total) {
        clearInterval(tick);
        const waitUntil = performance.now() + 10_000;
        const drain = setInterval(() => {
          if (inFlight > 0 && performance.now() < waitUntil) return;
          clearInterval(drain);
          agent.destroy();
          latencies.sort((a, b) => a - b);
          const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
          loopDelay.disable();
          resolve({ requests: latencies.length, errors: errors + inFlight, latencyMs: { p50: at(0.5), p99: at(0.99), max: latencies.at(-1) ?? 0 }, clientLoopDelayP99Ms: loopDelay.percentile(99) / 1e6 });
        }, 20);
      }
    }, 1);
  });
}
