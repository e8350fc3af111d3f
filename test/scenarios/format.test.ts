/** The pieces of the scenario format that need no simulator: durations, line numbers, step shorthands. */
import { describe, expect, it } from 'vitest';
import { parseDuration, formatElapsed } from '../../src/scenario/duration.ts';
import { jsonValueLines, JsonSyntaxError } from '../../src/scenario/jsonLines.ts';
import { parseScenario, ScenarioFormatError } from '../../src/scenario/load.ts';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['61m', 61 * 60_000],
    ['10h', 36_000_000],
    ['90d', 90 * 86_400_000],
    ['1h30m', 90 * 60_000],
    ['14m59s', 899_000],
  ])('%s = %i ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '10', 'h', '10 hours', '1h 30m', '-1h', '1w'])('refuses %j', (text) => expect(parseDuration(text)).toBeNull());

  it('formats elapsed simulated time', () => expect(formatElapsed(90 * 86_400_000 + 3_723_000)).toBe('90d 01:02:03'));
});

describe('line numbers', () => {
  it('maps every value to the line it starts on', () => {
    const lines = jsonValueLines('{\n  "a": [\n    1,\n    { "b": "x\\"y" }\n  ],\n  "c": null\n}');
    expect(Object.fromEntries(lines)).toEqual({ '': 1, a: 2, 'a.0': 3, 'a.1': 4, 'a.1.b': 4, c: 6 });
  });

  it('names the line of the first token that is not JSON', () => {
    expect(() => jsonValueLines('{\n  "a": 1,\n  "b": tru\n}')).toThrow(JsonSyntaxError);
    let caught: unknown;
    try {
      jsonValueLines('[1,\n2\n3]');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(JsonSyntaxError);
    expect((caught as JsonSyntaxError).line).toBe(3);
    expect((caught as JsonSyntaxError).message).toBe('expected "," or "]" after a value in an array, found "3"');
  });
});

describe('step shorthands', () => {
  it('bare strings, upn strings and duration strings mean the same as the long forms', () => {
    const s = parseScenario({
      name: 'shorthands',
      steps: ['startAuth', { approve: 'scanner@contoso.com' }, { powerCycle: '10h' }, { resetPassword: 'scanner@contoso.com' }, { decline: true }],
    });
    expect(s.steps.map((x) => [x.kind, x.args])).toEqual([
      ['startAuth', {}],
      ['approve', { upn: 'scanner@contoso.com' }],
      ['powerCycle', { off: 36_000_000 }],
      ['resetPassword', { upn: 'scanner@contoso.com', password: 'Scenario-Reset-Passw0rd!' }],
      ['decline', {}],
    ]);
    expect(s.pollIntervalSeconds).toBe(0.1);
    expect(s.seed).toBe(1);
  });

  it('a power cycle may damage the device key in one of three named ways, and nothing else', () => {
    const s = parseScenario({ name: 'key', steps: [{ powerCycle: { off: '1h', deviceKey: 'truncated' } }] });
    expect(s.steps[0]!.args).toEqual({ off: 3_600_000, deviceKey: 'truncated' });
    expect(() => parseScenario({ name: 'key', steps: [{ powerCycle: { deviceKey: 'stolen' } }] })).toThrow(ScenarioFormatError);
  });

  it('a step with two kinds is refused', () => {
    expect(() => parseScenario({ name: 'x', steps: [{ advance: '1h', expect: { state: 'ready' } }] })).toThrow(
      'steps[0]: must have exactly one key, the step kind; found "advance", "expect"',
    );
  });
});
