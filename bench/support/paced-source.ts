/**
 * Emits updates of one item at a given rate, in 10 ms slices, each carrying its emission time `t`
 * (performance.timeOrigin-based, comparable across processes of this machine) and a counter `n`.
 * Shared by the remote adapter process and the in-process bus feed of the remote-adapter bench.
 */
export interface PacedSource {
  setRate(perSecond: number): void;
  /** Updates emitted so far. */
  readonly emitted: number;
  stop(): void;
}

export function pacedSource(emit: (fields: Record<string, string>) => void): PacedSource {
  let rate = 0;
  let owed = 0;
  let n = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const at = performance.now();
    owed += ((at - last) * rate) / 1000;
    last = at;
    for (; owed >= 1; owed--) emit({ t: (performance.timeOrigin + performance.now()).toFixed(3), n: String(++n) });
  }, 10);
  return {
    setRate(perSecond) {
      rate = perSecond;
      owed = 0;
    },
    get emitted() {
      return n;
    },
    stop: () => clearInterval(timer),
  };
}
