/** What every panel plugin shares: the simulator, the lockout, the statechart table. One per panel instance. */
import { oauthDeviceMachine } from '../../machines/oauthDevice.ts';
import { transitionTable, type TransitionTable } from '../model/transitionTable.ts';
import { LoginLockout } from './lockout.ts';
import { SessionStore } from './sessions.ts';
import type { PanelSim } from './types.ts';

export interface PanelContext {
  sim: PanelSim;
  lockout: LoginLockout;
  sessions: SessionStore;
  table: TransitionTable;
  machine: typeof oauthDeviceMachine;
  /** Printer model shown in the header. */
  productName: string;
}

export function createPanelContext(sim: PanelSim): PanelContext {
  return {
    sim,
    lockout: new LoginLockout(() => sim.clock),
    sessions: new SessionStore(() => sim.clock),
    table: transitionTable(oauthDeviceMachine),
    machine: oauthDeviceMachine,
    productName: 'MFP Simulator C3000',
  };
}

/** "Now" as the printer reads it (its RTC): the device's own times (deadlines, token expiry) are on that clock. */
export function deviceNow(ctx: PanelContext): number {
  return (ctx.sim.deviceClock ?? ctx.sim.clock).now();
}
