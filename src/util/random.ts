/** Seedable randomness (pure-rand), so the twin's token lifetimes and probabilistic faults replay exactly. */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface Random {
  /** Integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** Float in [0, 1). */
  float(): number;
}

export function seededRandom(seed: number): Random {
  const rng = xoroshiro128plus(seed | 0);
  return {
    int: (min, max) => uniformInt(rng, min, max),
    float: () => uniformInt(rng, 0, 2 ** 30 - 1) / 2 ** 30,
  };
}
