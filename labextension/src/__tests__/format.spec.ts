import {
  differenceText,
  executionErrorText,
  formatAgo,
  formatBytes,
  formatDuration,
  formatNumber,
  formatTime,
  formatValue,
  metricNumber,
  MISSING,
  runColour,
  RUN_COLOURS,
  runElapsed,
  shortId
} from '../widgets/format';
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
  });

  it('keeps markup as plain text', () => {
    expect(formatValue('<img src=x onerror=alert(1)>')).toBe('<img src=x onerror=alert(1)>');
  });
});

describe('formatNumber', () => {
  it('writes integers whole and others with 6 significant digits, without trailing zeros', () => {
    expect(formatNumber(100)).toBe('100');
    expect(formatNumber(0.91)).toBe('0.91');
    expect(formatNumber(1 / 3)).toBe('0.333333');
    expect(formatNumber(2.5)).toBe('2.5');
    expect(formatNumber(1.5e-7)).toBe('1.50000e-7');
  });
});

describe('metricNumber', () => {
  it('draws finite numbers only: NaN (null) and the infinities are not drawable', () => {
    expect(metricNumber(0.5)).toBe(0.5);
    expect(metricNumber(null)).toBeNull();
    expect(metricNumber('Infinity')).toBeNull();
    expect(metricNumber('-Infinity')).toBeNull();
    expect(metricNumber(undefined)).toBeNull();
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
