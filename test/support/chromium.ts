/**
 * Debian's Chromium for the browser tests (playwright-core never downloads one): where it is, the flags it runs with,
 * and the rule: missing without CI → the suite is skipped with a printed reason; missing with CI set → it fails.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
export const chromiumPresent = existsSync(CHROMIUM);
const inCI = !!process.env.CI;

/** True when the suite must be skipped (and says why once); false when it runs (or must fail for want of Chromium). */
export function skipWithoutChromium(suite: string): boolean {
  if (!chromiumPresent && !inCI) console.warn(`[${suite}] skipped: ${CHROMIUM} not found (apt-get install chromium). With CI set this fails.`);
  return !chromiumPresent && !inCI;
}

/** Inside a test: fails in CI when Chromium is missing. */
export function requireChromium(): void {
  if (!chromiumPresent) throw new Error(`Chromium is required in CI but ${CHROMIUM} does not exist (apt-get install chromium)`);
}
