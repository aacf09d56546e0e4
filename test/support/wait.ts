/** Polls `check` until it holds, or fails with `describe()` after `timeoutMs`: the one way tests wait. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, describe: () => string, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(describe());
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
