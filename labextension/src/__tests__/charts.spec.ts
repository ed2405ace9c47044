/**
 * The runs table's charts (charts.ts, issue 14 "axes with readable ticks and labels"): integer
 * ticks for integer values, few values ticked as themselves, padded and nice domains, ticks that
 * cover a series from its first step, labels that do not overlap, the brushed range on its axis,
 * the sequential colour of a metric, and a group's colour that follows its key, not its row.
 */
import {
  brushExtent,
  brushOf,
  brushSpan,
  compareValues,
  coverTicks,
  FEW_VALUES,
  fitText,
  keyText,
  makeScale,
  niceDomain,
  niceStep,
  niceTicks,
  SEQUENTIAL,
  sequentialColour,
  sortedKeys,
  spaceTicks,
  stableColours,
  thinPoints
} from '../charts';
import { RUN_COLOURS } from '../widgets/format';

const labels = (values: (number | string | null)[], options = {}) => makeScale(values, options).ticks.map(t => t[1]);

describe('ticks', () => {
  it('are only integers when the values are', () => {
    // max_depth 1..3 and seed 0..2 had ticks 1.5, 2.5 and 0.5, 1.5
    expect(niceTicks(1, 3, 5, true)).toEqual([1, 2, 3]);
    expect(niceTicks(0, 2, 5, true)).toEqual([0, 1, 2]);
    expect(niceTicks(1, 3, 5)).toEqual([1, 1.5, 2, 2.5, 3]);
    expect(niceTicks(0, 7, 5, true)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(niceTicks(0, 14, 5, true)).toEqual([0, 2, 4, 6, 8, 10, 12, 14]);
    expect(niceTicks(10, 500, 5, true).every(Number.isInteger)).toBe(true);
    expect(niceStep(0.4, 5, true)).toBe(1);
  });

  it('are round otherwise, and cope with one value and with non-finite bounds', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.013, 0.097, 4)).toEqual([0.02, 0.04, 0.06, 0.08]);
    expect(niceTicks(3, 3)).toEqual([3]);
    expect(niceTicks(NaN, 1)).toEqual([]);
    expect(niceTicks(5, 1, 4, true)).toEqual([1, 2, 3, 4, 5]);
  });

  it('widen a domain to round values at both ends', () => {
    expect(niceDomain(0.0513, 0.197, 5)).toEqual([0.04, 0.2]);
    expect(niceDomain(0.6, 0.823, 5)).toEqual([0.6, 0.85]);
    expect(niceDomain(2, 2)).toEqual([2, 2]);
  });

  it('cover a series from its first step to its last', () => {
    // the steps 1..50 were ticked from 10
    expect(coverTicks(1, 50, 5, true)).toEqual([1, 10, 20, 30, 40, 50]);
    expect(coverTicks(0, 4, 5, true)).toEqual([0, 1, 2, 3, 4]);
    expect(coverTicks(0, 99, 5, true)).toEqual([0, 20, 40, 60, 80, 99]);
    expect(coverTicks(7, 7)).toEqual([7]);
    const ticks = coverTicks(3, 1003, 5, true);
    expect(ticks[0]).toBe(3);
    expect(ticks[ticks.length - 1]).toBe(1003);
    expect(ticks.every(Number.isInteger)).toBe(true);
  });

  it('are spaced so that no two labels overlap, the ends kept', () => {
    // positions in pixels, each label 10 px tall
    expect(spaceTicks([0, 5, 10, 15, 20, 25, 30], () => 10, 0)).toEqual([0, 2, 4, 6]);
    expect(spaceTicks([0, 100, 200], () => 10)).toEqual([0, 1, 2]);
    expect(spaceTicks([0, 12, 16], () => 10, 0)).toEqual([0, 2]); // 12 gives way to the highest
    expect(spaceTicks([200, 0, 100], () => 10)).toEqual([0, 1, 2]); // any order
    expect(spaceTicks([], () => 10)).toEqual([]);
  });
});

describe('scales', () => {
  it('tick an integer axis at integers only', () => {
    const depth = [1, 2, 3, 1, 2, 3];
    const scale = makeScale(depth, { few: FEW_VALUES, nice: true });
    expect(scale.integer).toBe(true);
    expect(scale.ticks.map(t => t[1])).toEqual(['1', '2', '3']);
    // many integer values: nice integer ticks, never fractions
    const many = Array.from({ length: 40 }, (_, i) => i * 3);
    const ticks = makeScale(many, { few: FEW_VALUES, nice: true }).ticks.map(t => Number(t[1]));
    expect(ticks.length).toBeLessThanOrEqual(8);
    expect(ticks.every(Number.isInteger)).toBe(true);
    expect(labels([0, 1, 2, 3, 4, 5, 6, 7], { pad: 0.05 }).every(t => Number.isInteger(Number(t)))).toBe(true);
  });

  it('tick a few distinct values at themselves', () => {
    // learning_rate with 3 values had 8 ticks
    expect(labels([0.05, 0.1, 0.2, 0.1, 0.05], { few: FEW_VALUES, nice: true })).toEqual(['0.05', '0.1', '0.2']);
    expect(labels([0.001, 0.01, 0.1], { few: FEW_VALUES })).toEqual(['0.001', '0.01', '0.1']);
    const scale = makeScale([0.05, 0.1, 0.2], { few: FEW_VALUES, nice: true });
    expect([scale.low, scale.high]).toEqual([0.05, 0.2]); // the axis runs from the lowest value to the highest
    expect(scale.at(0.05)).toBe(0);
    expect(scale.at(0.2)).toBe(1);
    // more than a few: a handful of round ticks over a round domain
    const acc = [0.61, 0.62, 0.7, 0.71, 0.72, 0.8, 0.81, 0.823];
    const round = makeScale(acc, { few: FEW_VALUES, nice: true });
    expect([round.low, round.high]).toEqual([0.6, 0.85]);
    expect(round.ticks.map(t => t[1])).toEqual(['0.6', '0.65', '0.7', '0.75', '0.8', '0.85']);
  });

  it('pad a scatter so that no point lies on an axis', () => {
    const scale = makeScale([0, 10], { pad: 0.05 });
    expect(scale.at(0)).toBeCloseTo(0.05 / 1.1);
    expect(scale.at(10)).toBeCloseTo(1.05 / 1.1);
    expect(scale.low).toBeCloseTo(-0.5);
    expect(scale.high).toBeCloseTo(10.5);
    const categories = makeScale(['rf', 'gbm', 'svm'], { pad: 0.05 });
    ['gbm', 'rf', 'svm'].forEach((c, i) => expect(categories.at(c)).toBeCloseTo([0.05, 0.5, 0.95][i]));
    expect(makeScale([3, 3], { pad: 0.05 }).at(3)).toBe(0.5);
  });

  it('keep categories, missing values and markup as they are', () => {
    const scale = makeScale(['<img src=x onerror=alert(1)>', 'rf', null, undefined]);
    expect(scale.kind).toBe('category');
    expect(scale.categories).toEqual(['<img src=x onerror=alert(1)>', 'rf']);
    expect(scale.ticks.map(t => t[2])).toEqual(['<img src=x onerror=alert(1)>', 'rf']);
    expect(scale.ticks[0][1]).toBe('<img src=x on…'); // cut with an ellipsis, whole in the full label
    expect(scale.at(null)).toBeNull();
    expect(makeScale([1, 'NaN', 'Infinity']).kind).toBe('number');
    expect(makeScale([1, 'NaN']).at('NaN')).toBeNull();
  });

  it('fit a label to its room with an ellipsis', () => {
    expect(fitText('x'.repeat(60), 66)).toBe(`${'x'.repeat(9)}…`);
    expect(fitText('x'.repeat(60), 74, 7.4)).toBe(`${'x'.repeat(9)}…`);
    expect(fitText('short', 620)).toBe('short');
  });
});

describe('brushes', () => {
  it('lie on their axis, where they were dragged', () => {
    const scale = makeScale([0, 0.5, 1], { few: 0 });
    const brush = brushOf('metrics.acc', scale, 0.6, 1)!;
    expect(brush).toEqual({ column: 'metrics.acc', low: 0.6, high: 1 });
    expect(brushSpan(brush, scale)).toEqual([0.6, 1]);
    // the axis keeps its domain once the rows are only the brushed ones: the brush's range widens it
    const after = makeScale([0.7, 0.9], { extend: brushExtent(brush) });
    expect([after.low, after.high]).toEqual([0.6, 1]);
    expect(after.ticks.map(t => t[1])).not.toContain('0.75000001');
    expect(brushSpan(brush, after)).toEqual([0, 1]);
    expect(brushSpan({ column: 'x', low: 5, high: 6 }, scale)).toBeNull(); // off the axis
  });

  it('on an axis of integers or of a few values take the values the drag covers', () => {
    // max_depth 1..3, dragged from just below its top to 30 % down: 3, not 2.4 – 2.98 (no run)
    const depth = makeScale([1, 2, 3], { few: FEW_VALUES, nice: true });
    expect(brushOf('params.max_depth', depth, 0.99, 0.7)).toEqual({ column: 'params.max_depth', low: 3, high: 3 });
    expect(brushOf('params.max_depth', depth, 0.99, 0.45)).toEqual({ column: 'params.max_depth', low: 2, high: 3 });
    const lr = makeScale([0.05, 0.1, 0.2], { few: FEW_VALUES, nice: true });
    expect(brushOf('params.lr', lr, 0.98, 0.3)).toEqual({ column: 'params.lr', low: 0.1, high: 0.2 });
    // many integers: the integers inside the range
    const seeds = makeScale(Array.from({ length: 100 }, (_, i) => i), { few: FEW_VALUES, nice: true });
    expect(brushOf('params.seed', seeds, 0.105, 0.2)).toEqual({ column: 'params.seed', low: 8, high: 23 });
    // no value covered: the range as dragged (it matches no run, as it says)
    expect(brushOf('params.max_depth', depth, 0.2, 0.3)).toEqual({ column: 'params.max_depth', low: 1.4, high: 1.6 });
  });

  it('of categories span the brushed values', () => {
    const scale = makeScale(['a', 'b', 'c']);
    const brush = brushOf('params.b', scale, 0.4, 1)!;
    expect(brush).toEqual({ column: 'params.b', values: ['b', 'c'] });
    expect(brushSpan(brush, scale)).toEqual([0.5, 1]);
    expect(makeScale(['c'], { extend: brushExtent(brush) }).categories).toEqual(['b', 'c']);
  });
});

describe('colours', () => {
  it('of a metric run along a sequential scale', () => {
    expect(sequentialColour(0)).toBe(SEQUENTIAL[0]);
    expect(sequentialColour(1)).toBe(SEQUENTIAL[SEQUENTIAL.length - 1]);
    expect(sequentialColour(-3)).toBe(SEQUENTIAL[0]);
    expect(sequentialColour(0.5)).toMatch(/^#[0-9a-f]{6}$/);
    expect(sequentialColour(NaN)).toBe('#999999');
    const dark = (c: string) => parseInt(c.slice(1, 3), 16) + parseInt(c.slice(3, 5), 16) + parseInt(c.slice(5, 7), 16);
    expect(dark(sequentialColour(0.2))).toBeLessThan(dark(sequentialColour(0.8)));
  });

  it('of a group follow its key, not its row', () => {
    const keys = [[0.2], [0.05], [0.1]];
    const colours = stableColours(keys, keys, RUN_COLOURS);
    // the table sorted another way: the same colours
    const reversed = [...keys].reverse();
    const again = stableColours(reversed, reversed, RUN_COLOURS);
    for (const key of keys) {
      expect(again.get(keyText(key))).toBe(colours.get(keyText(key)));
    }
    // by the sorted values: 0.05 first
    expect(colours.get(keyText([0.05]))).toBe(RUN_COLOURS[0]);
    expect(colours.get(keyText([0.1]))).toBe(RUN_COLOURS[1]);
    expect(colours.get(keyText([0.2]))).toBe(RUN_COLOURS[2]);
  });

  it('of the groups drawn are all different when some groups are left out', () => {
    const all = Array.from({ length: 12 }, (_, i) => [i]);
    const drawn = [[11], [0], [9], [3], [4], [5], [6], [7]];
    const colours = stableColours(drawn, all, RUN_COLOURS);
    expect(new Set(drawn.map(k => colours.get(keyText(k)))).size).toBe(8);
    expect(colours.get(keyText([0]))).toBe(RUN_COLOURS[0]); // the sorted order where it can
    expect(colours.get(keyText([3]))).toBe(RUN_COLOURS[3]);
  });

  it('sort values naturally and several params value by value', () => {
    expect(sortedKeys([[10], [2], ['rf'], [null], [true], [2]])).toEqual([[2], [10], [true], ['rf'], [null]]);
    expect(sortedKeys([[2, 'y'], [1, 'z'], [2, 'x']])).toEqual([[1, 'z'], [2, 'x'], [2, 'y']]);
    expect(compareValues('b', 'a')).toBeGreaterThan(0);
    expect(keyText([undefined])).toBe(keyText([null]));
    expect(keyText([1])).not.toBe(keyText(['1']));
  });
});

describe('series', () => {
  it('keep at most so many points, the last one included', () => {
    const points = Array.from({ length: 5000 }, (_, i) => i);
    const thinned = thinPoints(points, 1000);
    expect(thinned.length).toBe(1001);
    expect(thinned[thinned.length - 1]).toBe(4999);
    expect(thinPoints([1, 2, 3])).toEqual([1, 2, 3]);
  });
});
