// The hand-written SVG plot writer of the scale curves (bench/lib/svg-plot.cjs, docs/scale.md).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { renderPlot } = require('../../bench/lib/svg-plot.cjs') as {
  renderPlot: (o: {
    title: string;
    xLabel: string;
    yLabel: string;
    series: { name: string; points: [number, number][] }[];
    logY?: boolean;
    xBytes?: boolean;
    note?: string;
  }) => string;
};

const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe('bench SVG plot writer', () => {
  const svg = renderPlot({
    title: 'Idle connections <RSS & rate>',
    xLabel: 'connections',
    yLabel: 'KB per connection',
    series: [
      { name: 'nestmq', points: [[1000, 5], [10000, 4], [100000, 3.5]] },
      { name: 'aedes', points: [[1000, 9], [10000, 8]] },
      { name: 'mosquitto "C"', points: [[1000, 1], [10000, NaN]] },
      { name: 'nothing', points: [] },
    ],
  });

  it('draws one path per broker that has points, with a marker per point', () => {
    expect(count(svg, /<path class="series"/g)).toBe(3);
    expect(svg).toContain('data-name="nestmq"');
    expect(svg).toContain('data-name="aedes"');
    expect(count(svg, /<circle /g)).toBe(6); // the NaN point is left out
    expect(svg).toContain('nothing (no data)');
  });

  it('puts the x ticks at the log decades covering the points', () => {
    expect(count(svg, /class="xtick"/g)).toBe(3); // 1k, 10k, 100k
    for (const t of ['>1k<', '>10k<', '>100k<']) expect(svg).toContain(t);
    expect(svg).toContain('connections (log scale)');
    const logY = renderPlot({ title: 't', xLabel: 'x', yLabel: 'y', logY: true, series: [{ name: 'a', points: [[10, 3], [1e6, 4000]] }] });
    expect(count(logY, /class="xtick"/g)).toBe(6); // 10 .. 1M
    expect(count(logY, /class="ytick"/g)).toBe(5); // 1 .. 10k
  });

  it('uses binary decades for byte sizes', () => {
    const bytes = renderPlot({ title: 't', xLabel: 'payload', yLabel: 'MB/s', xBytes: true, series: [{ name: 'a', points: [[16, 1], [1024, 2], [65536, 3], [1048576, 4]]}] });
    for (const t of ['>1 B<', '>1 KiB<', '>1 MiB<']) expect(bytes).toContain(t);
  });

  it('escapes text', () => {
    expect(svg).toContain('Idle connections &lt;RSS &amp; rate&gt;');
    expect(svg).toContain('mosquitto &quot;C&quot;');
    expect(svg).not.toContain('<RSS');
    // well-formed enough for an XML parser: every tag closed, no raw ampersand
    expect(svg.trim().startsWith('<svg')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg).not.toMatch(/&(?!amp;|lt;|gt;|quot;|#39;)/);
  });
});
