/**
 * The alerting part of PIGEON_CONFIG (`alerts.rules`, `alerts.escalation`, `alerts.defaultChannels`,
 * `alerts.canary`), checked once at start: a bad rule or a policy naming an unknown channel stops
 * the monitor (and the api, which serves the rules) with PIGEON_ERR_CONFIG rather than leaving an
 * alert that can never reach anyone. Channels themselves belong to monitor/src/channels/.
 */
import type { Config } from '../core/config.ts';
import { PigeonError } from '../core/errors.ts';
import { parseE164 } from '../core/phone.ts';
import type { EscalationPolicy } from './incident.ts';
import { defaultRules } from './default-rules.ts';
import { type AlertRule, compileRule, durationMs } from './rules.ts';

/** A synthetic probe's destination: a test number a provider can deliver to in one country. */
export interface CanaryTarget {
  provider: string;
  country: string;
  /** E.164 test number in that country that the provider can deliver to. */
  to: string;
}

export interface AlertingSetup {
  /** Names of the configured alert channels. */
  channels: readonly string[];
  policies: readonly EscalationPolicy[];
  /** The shipped defaults, then the configuration's rules over them. */
  layers: { defaults: readonly AlertRule[]; config: readonly AlertRule[] };
  defaultChannels: readonly string[];
  canary:
    | {
        targets: readonly CanaryTarget[];
        intervalMs: number;
        timeoutMs: number;
        messageClass: 'transactional' | 'otp';
      }
    | undefined;
}

/** Reads and checks the alerting configuration; throws PIGEON_ERR_CONFIG naming what is wrong. */
export function alertingSetup(config: Config): AlertingSetup {
  const alerts = config.providersFile?.alerts ?? {};
  const problems: string[] = [];
  const channels = (alerts.channels ?? []).map((c) => c.name);
  const unknownChannels = (names: readonly string[], where: string) => {
    for (const name of names) {
      if (!channels.includes(name)) problems.push(`${where}: no channel named "${name}" in alerts.channels`);
    }
  };

  const defaultChannels = alerts.defaultChannels ?? [];
  unknownChannels(defaultChannels, 'alerts.defaultChannels');

  const policies: EscalationPolicy[] = [];
  for (const [i, policy] of (alerts.escalation ?? []).entries()) {
    const where = `alerts.escalation[${i}]`;
    if (typeof policy?.id !== 'string' || !Array.isArray(policy.steps)) {
      problems.push(`${where}: expected {id, steps: [{after, channels}]}`);
      continue;
    }
    const steps = [];
    for (const [j, step] of policy.steps.entries()) {
      try {
        if (!Array.isArray(step.channels) || step.channels.length === 0) throw new Error('no channels');
        unknownChannels(step.channels, `${where}.steps[${j}]`);
        steps.push({ afterMs: durationMs(String(step.after)), channels: step.channels });
      } catch (err) {
        problems.push(
          `${where}.steps[${j}]: expected {after: "10m", channels: [...]} (${(err as Error).message})`,
        );
      }
    }
    policies.push({ id: policy.id, steps });
  }

  const known = { channels, escalations: policies.map((p) => p.id) };
  const rules: AlertRule[] = [];
  for (const [i, value] of (alerts.rules ?? []).entries()) {
    try {
      rules.push(compileRule(value, known).rule);
    } catch (err) {
      problems.push(`alerts.rules[${i}]: ${(err as Error).message}`);
    }
  }
  const defaults = defaultRules({ receiptBacklog: config.monitor.receiptBacklog });

  let canary: AlertingSetup['canary'];
  if (alerts.canary) {
    const c = alerts.canary;
    const targets: CanaryTarget[] = [];
    for (const [i, t] of (Array.isArray(c.targets) ? c.targets : []).entries()) {
      const parsed = typeof t?.to === 'string' ? parseE164(t.to) : undefined;
      if (typeof t?.provider !== 'string' || typeof t.country !== 'string' || !parsed) {
        problems.push(`alerts.canary.targets[${i}]: expected {provider, country, to: an E.164 number}`);
        continue;
      }
      targets.push({ provider: t.provider, country: t.country, to: parsed.e164 });
    }
    if (targets.length === 0) problems.push('alerts.canary: no targets');
    const intervalMs = (c.intervalSeconds ?? 300) * 1000;
    const timeoutMs = (c.timeoutSeconds ?? 120) * 1000;
    if (!(intervalMs >= 10_000) || !(timeoutMs >= 5_000) || timeoutMs > intervalMs * 10) {
      problems.push('alerts.canary: intervalSeconds ≥ 10 and timeoutSeconds ≥ 5 expected');
    }
    if (c.class !== undefined && c.class !== 'transactional' && c.class !== 'otp') {
      problems.push('alerts.canary.class: transactional or otp');
    }
    canary = { targets, intervalMs, timeoutMs, messageClass: c.class ?? 'transactional' };
  }

  if (problems.length > 0) {
    throw new PigeonError(
      'PIGEON_ERR_CONFIG',
      `Invalid alerting configuration:\n  - ${problems.join('\n  - ')}`,
    );
  }
  return { channels, policies, layers: { defaults, config: rules }, defaultChannels, canary };
}
