/** Browser sign-in flows at /devicelogin: one per code entered, found again through a signed cookie. */
import { randomBytes } from 'node:crypto';
import type { MfaMethod } from '../contracts.ts';

export type FlowStep = 'signin' | 'password' | 'verify' | 'confirm' | 'finished';

export interface SignInFlow {
  id: string;
  userCode: string;
  step: FlowStep;
  upn: string | null;
  /** Current one-time code (test data shown on the twin phone, never on the page). */
  otp: string | null;
  otpMethod: Exclude<MfaMethod, 'none'> | null;
  otpExpiresAt: number;
  mfaDone: boolean;
  createdAt: number;
}

const FLOW_TTL_MS = 60 * 60_000;
const MAX_FLOWS = 10_000;

export class SignInFlowStore {
  private readonly flows = new Map<string, SignInFlow>();

  constructor(private readonly now: () => number) {}

  create(userCode: string): SignInFlow {
    this.prune();
    const flow: SignInFlow = {
      id: randomBytes(24).toString('base64url'),
      userCode,
      step: 'signin',
      upn: null,
      otp: null,
      otpMethod: null,
      otpExpiresAt: 0,
      mfaDone: false,
      createdAt: this.now(),
    };
    this.flows.set(flow.id, flow);
    return flow;
  }

  get(id: string | null | undefined): SignInFlow | undefined {
    if (!id) return undefined;
    const f = this.flows.get(id);
    if (f && this.now() - f.createdAt > FLOW_TTL_MS) {
      this.flows.delete(id);
      return undefined;
    }
    return f;
  }

  delete(id: string): void {
    this.flows.delete(id);
  }

  private prune(): void {
    const cutoff = this.now() - FLOW_TTL_MS;
    for (const [id, f] of this.flows) if (f.createdAt < cutoff) this.flows.delete(id);
    // Bound memory against a client that opens flows in a loop: drop the oldest.
    while (this.flows.size >= MAX_FLOWS) this.flows.delete(this.flows.keys().next().value!);
  }
}
