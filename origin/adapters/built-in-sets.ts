/**
 * The adapter sets an origin has built in: `DEMO`, the public demos' sets (demo-sets/) and `TEST`
 * (what the official client libraries' system tests expect). Without ADAPTERS_CONF an origin serves
 * them all; ADAPTERS_CONF picks them by name (`builtin:CHAT`) beside its adapters.xml files.
 */
import type { AdapterSet } from './adapter.ts';
import { createPublicDemoSets } from './demo-sets/public-demos.ts';
import { createTestAdapterSet } from './test/test-adapter-set.ts';

export const BUILT_IN_SET_NAMES = ['DEMO', 'CHAT', 'PORTFOLIODEMO', 'FULLPORTFOLIODEMO', 'JSONPORTFOLIODEMO', 'ROUNDTRIPDEMO', 'HELLOWORLD', 'AUTHDEMO', 'MESSENGER', 'F1Telemetry', 'TEST'] as const;

/** ADAPTERS_CONF's way to name a built-in set: `builtin:<name>`. */
export const BUILT_IN_PREFIX = 'builtin:';

/** The built-in sets named (all of them by default), in `names`' order. */
export function createBuiltInSets(names: readonly string[] = BUILT_IN_SET_NAMES): AdapterSet[] {
  const all = new Map<string, AdapterSet>([...createPublicDemoSets(), createTestAdapterSet()].map((set) => [set.name, set]));
  return names.map((name) => {
    const set = all.get(name);
    if (!set) throw new Error(`no built-in adapter set ${name}`);
    return set;
  });
}
