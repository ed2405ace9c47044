import {
  collapse,
  differenceText,
  executionErrorText,
  formatAgo,
  formatBytes,
  formatDelta,
  formatDuration,
  formatMetric,
  formatNumber,
  formatTime,
  formatValue,
  isDrawable,
  MISSING,
  parseMetric,
  parseNumber,
  runColour,
  RUN_COLOURS,
  runElapsed,
  shortId,
  truncate
} from '../widgets/format';
import { leftOutText, points } from '../widgets/Charts';
import { IDifference } from '../request';

describe('formatValue', () => {
  it('shows a missing value as a dash', () => {
    expect(formatValue(null)).toBe(MISSING);
    expect(formatValue(undefined)).toBe(MISSING);
  });

  it('shows numbers, strings and JSON as text, shortened to the width', () => {
    expect(formatValue(0.91)).toBe('0.91');
    expect(formatValue('rf')).toBe('rf');
    expect(formatValue({ a: [1, 2] })).toBe('{"a":[1,2]}');
    expect(formatValue('abcdefghij', 5)).toBe('abcd…');
    expect(formatValue('abcde', 5)).toBe('abcde');
    expect(formatValue('x'.repeat(100_000), Infinity)).toHaveLength(100_000);
    expect(formatValue(-Infinity)).toBe('−∞');
  });

  it('keeps markup as plain text', () => {
    expect(formatValue('<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>');
  });
});

describe('formatNumber', () => {
  it('writes integers whole and others with 6 significant digits, without trailing zeros', () => {
    expect(formatNumber(100)).toBe('100');
    expect(formatNumber(-3)).toBe('-3');
    expect(formatNumber(0)).toBe('0');
    expect(formatNumber(0.91)).toBe('0.91');
    expect(formatNumber(1 / 3)).toBe('0.333333');
    expect(formatNumber(2.5)).toBe('2.5');
    expect(formatNumber(1.5e-7)).toBe('1.5e-7');
    expect(formatNumber(-1.234567e-7)).toBe('-1.23457e-7');
  });

  it('writes NaN and the infinities as NaN, ∞ and −∞ (U+2212)', () => {
    expect(formatNumber(NaN)).toBe('NaN');
    expect(formatNumber(Infinity)).toBe('∞');
    expect(formatNumber(-Infinity)).toBe('−∞');
    expect(formatNumber(-Infinity).codePointAt(0)).toBe(0x2212);
  });

  it('keeps huge and tiny numbers short', () => {
    expect(formatNumber(1e300)).toBe('1e+300');
    expect(formatNumber(-1.7976931348623157e308)).toBe('-1.79769e+308');
    expect(formatNumber(123456789012345678)).toBe('1.23457e+17');
    expect(formatNumber(123456789012345)).toBe('123456789012345');
    expect(formatNumber(5e-324)).toBe('4.94066e-324');
    expect(formatNumber(Number.MIN_VALUE * 2 ** 60)).toMatch(/^\d\.\d+e-30[0-9]$/);
  });

  it('never calls a number method on text a type let through (the compare view went blank)', () => {
    const wire = '-Infinity' as unknown as number;
    expect(formatNumber(wire)).toBe('−∞');
    expect(formatNumber('what' as unknown as number)).toBe('NaN');
  });
});

describe('parseNumber', () => {
  it('reads numbers as they are and the text json_safe writes for NaN and ±inf', () => {
    expect(parseNumber(0.5)).toBe(0.5);
    expect(parseNumber(-0)).toBe(-0);
    expect(parseNumber(1e308)).toBe(1e308);
    expect(parseNumber('Infinity')).toBe(Infinity);
    expect(parseNumber('-Infinity')).toBe(-Infinity);
    expect(parseNumber('NaN')).toBeNaN();
  });

  it('is null for what is no number: null, undefined, other text, objects', () => {
    expect(parseNumber(null)).toBeNull();
    expect(parseNumber(undefined)).toBeNull();
    expect(parseNumber('0.5')).toBeNull(); // a param's text stays text
    expect(parseNumber('infinity')).toBeNull();
    expect(parseNumber('constructor')).toBeNull();
    expect(parseNumber({})).toBeNull();
    expect(parseNumber(true)).toBeNull();
  });
});

describe('parseMetric and formatMetric', () => {
  it('reads a logged metric: null is NaN (json_safe writes NaN as null)', () => {
    expect(parseMetric(0.25)).toBe(0.25);
    expect(parseMetric(null)).toBeNaN();
    expect(parseMetric('NaN')).toBeNaN();
    expect(parseMetric('Infinity')).toBe(Infinity);
    expect(parseMetric('-Infinity')).toBe(-Infinity);
  });

  it('shows a metric as text, and a metric the run lacks as a dash', () => {
    expect(formatMetric(0.81)).toBe('0.81');
    expect(formatMetric(null)).toBe('NaN');
    expect(formatMetric('Infinity')).toBe('∞');
    expect(formatMetric('-Infinity')).toBe('−∞');
    expect(formatMetric(undefined)).toBe(MISSING);
  });
});

describe('formatDelta', () => {
  it('signs a delta, infinite ones too', () => {
    expect(formatDelta(0.05)).toBe('+0.05');
    expect(formatDelta(-0.1)).toBe('-0.1');
    expect(formatDelta(Infinity)).toBe('+∞');
    expect(formatDelta(-Infinity)).toBe('−∞');
    expect(formatDelta(NaN)).toBe('NaN');
  });
});

describe('isDrawable', () => {
  it('draws finite numbers only', () => {
    expect(isDrawable(0.5)).toBe(true);
    expect(isDrawable(0)).toBe(true);
    expect(isDrawable(NaN)).toBe(false);
    expect(isDrawable(Infinity)).toBe(false);
    expect(isDrawable(-Infinity)).toBe(false);
    expect(isDrawable(null)).toBe(false);
    expect(isDrawable(undefined)).toBe(false);
  });
});

describe('truncate', () => {
  it('cuts text to the limit, the ellipsis counted', () => {
    expect(truncate('abcdef', 4)).toBe('abc…');
    expect(truncate('abcd', 4)).toBe('abcd');
    expect(truncate('', 4)).toBe('');
    expect(truncate('x'.repeat(100_000), 200)).toHaveLength(200);
  });

  it('never splits a character made of two UTF-16 units', () => {
    expect(truncate('ab😀cd', 3)).toBe('ab…');
    expect(truncate('a😀cd', 3)).toBe('a…');
  });
});

describe('collapse', () => {
  const limits = { chars: 10, lines: 2 };

  it('leaves a short value alone', () => {
    expect(collapse('short', limits)).toBeNull();
    expect(collapse('one\ntwo', limits)).toBeNull();
    expect(collapse('x'.repeat(300))).toBeNull(); // the default: 300 characters, 5 lines
  });

  it('keeps the start of a value too long or of too many lines', () => {
    expect(collapse('abcdefghijklmnop', limits)).toBe('abcdefghi…');
    expect(collapse('one\ntwo\nthree', limits)).toBe('one\ntwo…');
    expect(collapse('x'.repeat(100_000))).toHaveLength(300);
    expect(collapse('line\n'.repeat(6))).toBe('line\nline\nline\nline\nline…');
  });
});

describe('chart points', () => {
  it('draws the finite points and counts NaN, ∞ and −∞ apart', () => {
    const { points: drawn, left } = points({
      steps: [0, 1, 2, 3, 4, null],
      values: [1, NaN, 0.5, Infinity, -Infinity, 0.25]
    });
    expect(drawn).toEqual([
      [0, 1],
      [2, 0.5],
      [5, 0.25]
    ]);
    expect(left).toEqual({ nan: 1, inf: 1, negInf: 1 });
    expect(leftOutText(left)).toBe('1 NaN, 1 ∞, 1 −∞');
    expect(leftOutText({ nan: 0, inf: 2, negInf: 0 })).toBe('2 ∞');
  });
});

describe('formatDuration', () => {
  it.each([
    [null, MISSING],
    [undefined, MISSING],
    [0.25, '250 ms'],
    [1.26, '1.3 s'],
    [59.9, '59.9 s'],
    [125, '2 min 5 s'],
    [3 * 3600 + 7 * 60, '3 h 7 min']
  ])('%p seconds is %p', (seconds, text) => {
    expect(formatDuration(seconds as number | null | undefined)).toBe(text);
  });
});

describe('formatAgo', () => {
  const now = 1_800_000_000;
  it.each([
    [now - 12, '12 s ago'],
    [now + 5, '0 s ago'], // a clock a little ahead of the server's
    [now - 600, '10 min ago'],
    [now - 7200, '2 h ago']
  ])('%p is %p', (start, text) => {
    expect(formatAgo(start, now)).toBe(text);
  });

  it('gives the date for runs older than a day', () => {
    expect(formatAgo(now - 3 * 86400, now)).toBe(new Date((now - 3 * 86400) * 1000).toLocaleDateString());
  });
});

describe('formatTime', () => {
  it('shows a missing time as a dash and a time in the local format', () => {
    expect(formatTime(null)).toBe(MISSING);
    expect(formatTime(1_800_000_000)).toBe(new Date(1_800_000_000_000).toLocaleString());
  });
});

describe('formatBytes', () => {
  it.each([
    [512, '512 B'],
    [2048, '2.0 KB'],
    [5.5 * 1024 * 1024, '5.5 MB']
  ])('%p bytes is %p', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe('runElapsed', () => {
  it('counts from the start while the run runs', () => {
    expect(runElapsed({ status: 'running', start: 100, duration: null }, 112.5)).toBe(12.5);
    expect(runElapsed({ status: 'running', start: 100, duration: null }, 99)).toBe(0);
  });

  it('is the recorded duration once the run ended', () => {
    expect(runElapsed({ status: 'finished', start: 100, duration: 8 }, 500)).toBe(8);
    expect(runElapsed({ status: 'interrupted', start: 100, duration: null }, 500)).toBeNull();
  });
});

describe('executionErrorText', () => {
  it('names the failing cell and its exception, as the CLI does', () => {
    expect(
      executionErrorText({ message: 'x', cell_index: 2, exec_count: 5, ename: 'ValueError', evalue: 'bad' })
    ).toBe('cell 3 (In[5]) raised ValueError: bad');
    expect(
      executionErrorText({ message: 'x', cell_index: null, exec_count: null, ename: 'KeyError', evalue: "'a'" })
    ).toBe("a cell raised KeyError: 'a'");
  });

  it('is the message when no cell raised (the kernel died)', () => {
    expect(
      executionErrorText({ message: 'Kernel died', cell_index: null, exec_count: null, ename: null, evalue: null })
    ).toBe('Kernel died');
  });
});

describe('differenceText', () => {
  const metric: IDifference = {
    kind: 'metric',
    name: 'acc',
    original: 0.91,
    new: 0.9,
    detail: 'abs 0.01',
    abs_diff: 0.01,
    rel_diff: 0.011,
    counts: true
  };

  it('shows what changed from what to what', () => {
    expect(differenceText(metric)).toBe('metric acc: 0.91 → 0.9 (abs 0.01)');
    expect(differenceText({ ...metric, kind: 'param', name: 'n', original: null, new: 3, detail: '' })).toBe(
      'param n: — → 3'
    );
  });

  it('shows a metric that became infinite as ∞, and keeps a param that reads "Infinity" as text', () => {
    expect(differenceText({ ...metric, original: 0.5, new: 'Infinity', detail: '' })).toBe('metric acc: 0.5 → ∞');
    expect(differenceText({ ...metric, kind: 'param', original: 'Infinity', new: 'NaN', detail: '' })).toBe(
      'param acc: Infinity → NaN'
    );
  });

  it('says when a difference is in timings only', () => {
    expect(differenceText({ ...metric, kind: 'output', name: 'cv', detail: '', counts: false })).toBe(
      'output cv: 0.91 → 0.9 [timings only: not counted]'
    );
  });
});

describe('shortId and runColour', () => {
  it('shortens ids to 8 characters and cycles the colours', () => {
    expect(shortId('0123456789abcdef')).toBe('01234567');
    expect(runColour(0)).toBe(RUN_COLOURS[0]);
    expect(runColour(RUN_COLOURS.length + 1)).toBe(RUN_COLOURS[1]);
  });
});
