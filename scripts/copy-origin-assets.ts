/**
 * Second half of `npm run build:origin`: tsc compiles origin/ and protocol/ to dist/, and the files
 * the origin reads beside its modules at run time (Lua scripts, pages, the demo's assets) go next to
 * the compiled modules, where their `import.meta.url`-relative paths find them.
 * Runs on Node's own type stripping: no loader, no dev dependency beyond tsc.
 */
import { cpSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
cpSync(path.join(root, 'origin'), path.join(root, 'dist/origin'), {
  recursive: true,
  filter: (source) => !source.endsWith('.ts'),
});
