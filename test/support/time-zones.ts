/**
 * Zones whose clocks test time-zone code: DST an hour either way (London, New York), half an hour
 * (Lord Howe), none (Kolkata), at :45 (Chatham), and over midnight (Santiago skips 00:00 in
 * September and shows 23:00 twice in April).
 */
export const CLOCK_ZONES = [
  'Europe/London',
  'America/New_York',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'Pacific/Chatham',
  'America/Santiago',
] as const;

/** Instants from `from` to `to` (ISO), `stepMinutes` apart. */
export function instants(from: string, to: string, stepMinutes: number): number[] {
  const out: number[] = [];
  for (let t = Date.parse(from); t < Date.parse(to); t += stepMinutes * 60_000) out.push(t);
  return out;
}
