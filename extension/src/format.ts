/** How the sidebar writes figures: counts, rates, durations, ages. */

/** `1234567` → `1.2 M`, `950` → `950`. */
export function count(n: number): string {
  const units: [number, string][] = [
    [1e9, ' G'],
    [1e6, ' M'],
    [1e3, ' k']
  ];
  for (const [size, unit] of units) {
    if (Math.abs(n) >= size) {
      return `${(n / size).toFixed(1)}${unit}`;
    }
  }
  return `${Math.round(n)}`;
}

/** Rows per second, `–` while unknown. */
export function rate(perSecond: number | null): string {
  return perSecond === null ? '–' : `${count(perSecond)}/s`;
}

/** `75.2` → `1 min 15 s`, `3.4` → `3.4 s`. */
export function duration(seconds: number | null): string {
  if (seconds === null) {
    return '–';
  }
  if (seconds < 10) {
    return `${seconds.toFixed(1)} s`;
  }
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m} min ${s % 60} s`;
  }
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
