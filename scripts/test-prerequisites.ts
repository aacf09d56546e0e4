/**
 * `npm test`'s set-up (the `pretest` script): the suites run real Redis servers, Chromium and
 * openssl-made certificates. Whatever is missing is installed from Debian's packages when this user
 * may (root, or password-less sudo, with apt-get); otherwise the run stops at once with the exact
 * command to type, instead of failing suite by suite later.
 */
import { spawnSync } from 'node:child_process';

const NEEDED = [
  { command: 'redis-server', pkg: 'redis-server', usedBy: 'the shared feed (Redis bus) tests' },
  { command: 'chromium', pkg: 'chromium', usedBy: 'the browser tests (lightstreamer-client-web)' },
  { command: 'openssl', pkg: 'openssl', usedBy: 'the HTTPS listener tests (certificates)' },
] as const;

const onPath = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;

function install(packages: string[]): boolean {
  const asRoot = process.getuid?.() === 0;
  if (!onPath('apt-get') || (!asRoot && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status !== 0)) return false;
  const run = (args: string[]) => {
    const [command, ...rest] = asRoot ? args : ['sudo', '-n', ...args];
    return spawnSync(command, rest, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } }).status === 0;
  };
  process.stdout.write(`npm test: installing ${packages.join(', ')} (apt-get)\n`);
  return run(['apt-get', 'update', '-qq']) && run(['apt-get', 'install', '-y', '-qq', ...packages]);
}

const missing = NEEDED.filter((n) => !onPath(n.command));
if (missing.length > 0 && !(install(missing.map((n) => n.pkg)) && missing.every((n) => onPath(n.command)))) {
  process.stderr.write(
    [
      'npm test needs programs this machine does not have:',
      ...missing.filter((n) => !onPath(n.command)).map((n) => `  ${n.command}: ${n.usedBy}`),
      'Install them (Debian/Ubuntu) and run npm test again:',
      `  sudo apt-get update && sudo apt-get install -y ${missing.map((n) => n.pkg).join(' ')}`,
      '',
    ].join('\n'),
  );
  process.exit(1);
}
