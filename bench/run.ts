/**
 * `npm run bench` runs every benchmark in turn; `npm run bench -- <name> [options]` runs one, with
 * its own options (see the header of bench/<name>.ts). Each runs in its own process, as it would
 * alone, so one bench's servers and sockets never weigh on the next one's figures.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';

const BENCHES = {
  fanout: 'updates delivered per origin CPU-second vs raw ws (100 / 1,000 / 5,000 sessions)',
  memory: 'memory per idle WebSocket and HTTP streaming session vs raw ws / node:http',
  'bus-latency': 'Redis bus: publish→deliver latency across shards (needs redis-server)',
  'edge-latency': 'latency and CR requests/s through the edge on Miniflare and under wrangler dev, against the direct path',
  'edge-sessions': 'relayed WebSocket sessions the local edge holds streaming, and workerd memory per session',
  'session-layer': 'mode session against mode path: added latency, failover time of 1,000 sessions under a SIGKILL, workerd memory per session',
  chaos: '1,000 official clients through the edge while a shard is killed, a shard stopped, Redis and the edge restarted',
  'remote-adapter': 'updates/s from a remote data adapter (Node SDK, ARI) through an origin to 1,000 sessions vs the bus',
} as const;
type BenchName = keyof typeof BENCHES;

const [name, ...options] = process.argv.slice(2);
if (name !== undefined && !(name in BENCHES)) {
  console.error(`unknown bench ${JSON.stringify(name)}; one of:\n${Object.entries(BENCHES).map(([n, d]) => `  ${n.padEnd(14)} ${d}`).join('\n')}`);
  process.exit(2);
}

function runBench(bench: BenchName, args: string[]): Promise<number> {
  console.log(`\n## ${bench}: ${BENCHES[bench]}\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, `${bench}.ts`), ...args], { stdio: 'inherit' });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const failed: string[] = [];
for (const bench of name === undefined ? (Object.keys(BENCHES) as BenchName[]) : [name as BenchName]) {
  if ((await runBench(bench, name === undefined ? [] : options)) !== 0) failed.push(bench);
}
if (failed.length > 0) {
  console.error(`\nfailed: ${failed.join(', ')}`);
  process.exit(1);
}
