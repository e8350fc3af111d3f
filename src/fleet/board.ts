/** What the fleet page shows: the rows of the last finished phase, progress, and the report once the run is over. */
import type { TrafficSecond } from '../cloud/throttling.ts';
import type { DeviceRow, FleetReport, Phase } from './types.ts';

export interface FleetBoardView {
  devices: number;
  /** The last phase every slice finished, or null before the first. */
  phase: Phase | null;
  running: boolean;
  progress: { done: number; total: number };
  simulatedAt: number | null;
  rows: DeviceRow[];
  report: FleetReport | null;
  /** Requests per virtual second at the twins (all slices), as of the last finished phase. */
  traffic: TrafficSecond[];
}

export class FleetBoard {
  private view: FleetBoardView;

  constructor(devices: number, totalUnits: number) {
    this.view = { devices, phase: null, running: true, progress: { done: 0, total: totalUnits }, simulatedAt: null, rows: [], report: null, traffic: [] };
  }

  progress(units: number): void {
    this.view.progress.done = Math.min(this.view.progress.total, this.view.progress.done + units);
  }

  phaseDone(phase: Phase, rows: DeviceRow[], simulatedAt: number, traffic: TrafficSecond[] = this.view.traffic): void {
    this.view = { ...this.view, phase, rows, simulatedAt, traffic };
  }

  finished(report: FleetReport): void {
    this.view = { ...this.view, running: false, rows: report.rows, report, progress: { ...this.view.progress, done: this.view.progress.total } };
  }

  failed(): void {
    this.view = { ...this.view, running: false };
  }

  current(): FleetBoardView {
    return this.view;
  }

  row(id: string): DeviceRow | undefined {
    return this.view.rows.find((r) => r.id === id);
  }
}
