/** A positive integer from the environment, for benchmark knobs such as BENCH_DURATION. */
export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0)
    throw new Error(`${name}: expected a positive integer, got "${raw}"`);
  return value;
}
