// The target of bench/soak-snapshot.ts: a service with a large live heap (HEAP_MIB, built before
// it listens) and a small leak: each request keeps a Leaked (a timestamp, its path and a counter).
// The heap mixes small records in a Map (an object, a string, a small array and a number each: many
// nodes per MiB, the parser's hard case) with cached response bodies (strings of 0.3–1.3 KiB: few
// nodes per MiB), 1,000 bodies per 5,000 records.
import { createServer } from 'node:http';

const target = Number(process.env.HEAP_MIB) * 1048576;
if (!(target > 0)) throw new Error('HEAP_MIB: a number of MiB above 0');

const records = new Map();
const bodies = [];
let i = 0;
while (process.memoryUsage().heapUsed < target) {
  for (let k = 0; k < 5000; k++, i++) records.set(i, { id: i, name: `user-${i}`, tags: [i % 7, i % 11], score: i / 3 });
  for (let k = 0; k < 1000; k++)
    bodies.push(JSON.stringify({ id: bodies.length, items: Array.from({ length: 20 + (k % 60) }, (_, n) => `item ${n} of ${k}`) }));
}

class Leaked {
  constructor(url, n) {
    this.at = Date.now();
    this.path = url;
    this.n = n;
  }
}
const leaked = [];
createServer((req, res) => {
  leaked.push(new Leaked(req.url, leaked.length));
  res.end(`${records.size} ${bodies.length}`);
}).listen(Number(process.env.PORT), '127.0.0.1');
