/** Fault plans for the twin: scripted failures for the next N requests of a target, or with a seeded probability. */
import { randomUUID } from 'node:crypto';
import type { FaultAction, FaultPlan, FaultRule, FaultTarget } from './contracts.ts';
import { seededRandom, type Random } from '../util/random.ts';

type LiveRule = FaultRule & { remaining: number; rng?: Random };

export function createFaultPlan(): FaultPlan {
  const rules: LiveRule[] = [];
  return {
    add(rule) {
      const live: LiveRule = {
        ...rule,
        id: randomUUID(),
        remaining: rule.probability === undefined ? Math.max(1, rule.count ?? 1) : Infinity,
        rng: rule.probability === undefined ? undefined : seededRandom(rule.seed ?? 1),
      };
      rules.push(live);
      return publicRule(live);
    },
    list: () => rules.map(publicRule),
    clear: () => void rules.splice(0, rules.length),
    take(target: FaultTarget): FaultAction | null {
      for (let i = 0; i < rules.length; i++) {
        const r = rules[i]!;
        if (r.target !== target) continue;
        if (r.rng) {
          if (r.rng.float() < (r.probability ?? 0)) return r.action;
          continue;
        }
        r.remaining -= 1;
        if (r.remaining <= 0) rules.splice(i, 1);
        return r.action;
      }
      return null;
    },
  };
}

function publicRule(r: LiveRule): FaultRule {
  const { remaining, rng, ...rest } = r;
  return r.probability === undefined ? { ...rest, count: remaining } : rest;
}

/** The fields each action kind needs beyond `kind` (the control API's schema checks shapes, this what belongs together). */
const ACTION_NEEDS: Record<FaultAction['kind'], string[]> = { error: ['error'], http: ['status'], throttle: ['retryAfterSeconds'], reply: ['reply'], delay: ['ms'], drop: [] };

/** Why a fault action is incomplete ("action error needs error"), or null. */
export function faultActionProblem(action: FaultAction): string | null {
  const a = action as unknown as Record<string, unknown>;
  const need = ACTION_NEEDS[a.kind as FaultAction['kind']];
  if (!need) return `unknown action kind ${String(a.kind)}`;
  const missing = need.filter((k) => a[k] === undefined);
  return missing.length ? `action ${String(a.kind)} needs ${missing.join(', ')}` : null;
}
