/**
 * The environment that turns the simulator on outside embedded mode, as a test deployment of
 * separate services does: it has to be asked for, with a secret every process shares.
 */
export const SIMULATOR_ENV = {
  PIGEON_SIMULATOR: 'true',
  PIGEON_SIMULATOR_SECRET: 'simulator-secret-of-the-tests',
} as const;
