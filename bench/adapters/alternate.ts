// bench/adapters: latency of two servers measured in turns. One keep-alive connection to each; a
// request to the first, its whole response, then one to the second, and so on, for <seconds>. A
// burst of machine noise (another process, the hypervisor) lands on requests of both servers alike,
// so the difference of their percentiles is what one server adds, not when it happened to be measured.
// Usage: node --import tsx alternate.ts <url> <url> <seconds>; prints one JSON line:
//   [{ count, p50, p99, p999 }, { … }] in µs, in the order of the URLs.
import { connect, type Socket } from 'node:net';
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';

const [firstUrl, secondUrl, secondsArg] = process.argv.slice(2);
const seconds = Number(secondsArg);
if (!firstUrl || !secondUrl || !(seconds > 0)) throw new Error('usage: alternate.ts <url> <url> <seconds>');

interface Side {
  socket: Socket;
  request: Buffer;
  histogram: RecordableHistogram;
}

async function open(url: string): Promise<Side> {
  const u = new URL(url);
  const socket = connect({ host: u.hostname, port: Number(u.port), noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const request = Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`);
  return { socket, request, histogram: createHistogram() };
}

/** Sends one request; resolves with the time the whole response (content-length or chunked) was in. */
function exchange(side: Side): Promise<bigint> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (data: Buffer): void => {
      buffered = Buffer.concat([buffered, data]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString('latin1');
      if (!head.startsWith('HTTP/1.1 200 ')) return fail(new Error(`answered ${head.split('\r\n', 1)[0]}`));
      const length = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (!length && !/\r\ntransfer-encoding: *chunked/i.test(head))
        return fail(new Error('answered without content-length or chunked body'));
      const complete = length ? buffered.length - end - 4 >= Number(length[1]) : buffered.subarray(-5).toString('latin1') === '0\r\n\r\n';
      if (!complete) return;
      const at = process.hrtime.bigint();
      stop();
      resolve(at);
    };
    const fail = (err: Error): void => {
      stop();
      reject(err);
    };
    const closed = (): void => fail(new Error('connection closed before the response was complete'));
    const stop = (): void => void side.socket.off('data', onData).off('error', fail).off('close', closed);
    side.socket.on('data', onData).on('error', fail).on('close', closed);
    side.socket.write(side.request);
  });
}

const sides = [await open(firstUrl), await open(secondUrl)];
const until = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
while (process.hrtime.bigint() < until) {
  for (const side of sides) {
    const sent = process.hrtime.bigint();
    const done = await exchange(side);
    side.histogram.record(Number(done - sent));
  }
}
for (const side of sides) side.socket.destroy();
const us = (ns: number): number => Math.round(ns / 100) / 10;
console.log(
  JSON.stringify(
    sides.map(({ histogram: h }) => ({
      count: h.count,
      p50: us(h.percentile(50)),
      p99: us(h.percentile(99)),
      p999: us(h.percentile(99.9)),
    })),
  ),
);
