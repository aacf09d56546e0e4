/**
 * A separate process that takes part in a runExclusive contest on a Redis bus and says when it
 * holds the lock, so a test can kill it (SIGKILL: no release) and watch another holder take over.
 * Usage: tsx test/support/exclusive-holder.ts <redis url> <lock ttl ms> <name>
 */
import { RedisBus } from '../../origin/bus/redis.ts';

const [url, ttl, name] = process.argv.slice(2);
const bus = new RedisBus({ url, historySize: 10, lockTtlMs: Number(ttl) });
bus.runExclusive(name, (signal) => {
  console.log('ACQUIRED');
  signal.addEventListener('abort', () => console.log('ABORTED'));
});
