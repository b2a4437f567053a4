// A uPlot line chart themed from VS Code's colours, sized to its container, and rebuilt (not patched)
// when its series list, scale kind or theme changes. Data updates go through setData, which uPlot
// batches into one draw per microtask; `onDraw` reports each finished draw (the panels count them).
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css';
import { decimateAligned } from './decimate';
import { injectStyle } from './dom';
import { formatMetric, formatShortCount } from './format';
import { chartTheme, type ChartTheme } from './theme';

export interface SeriesSpec {
  label: string;
  /** Index into the theme palette, or a colour. */
  color: number | string;
  width?: number;
  dash?: number[];
  /** Draw every point (sparse series such as eval). */
  points?: boolean;
  /** Join the line across null gaps. */
  spanGaps?: boolean;
  alpha?: number;
}

export interface ChartSpec {
  xLabel: string;
  yLabel: string;
  log: boolean;
  series: SeriesSpec[];
  height: number;
  /** Formats x values on the axis and in the legend. */
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
}

let cssInjected = false;

/** uPlot's stylesheet, once per page, with the page's nonce. */
export function injectChartCss(nonce: string): void {
  if (cssInjected) return;
  injectStyle(uplotCss, nonce);
  cssInjected = true;
}

export type ChartData = (Float64Array | (number | null)[])[];

export class ThemedChart {
  plot?: uPlot;
  private data: ChartData = [];
  private resize?: ResizeObserver;
  /** The user dragged a zoom: live updates keep their scales until a double-click resets it. */
  private zoomed = false;

  constructor(
    readonly host: HTMLElement,
    private spec: ChartSpec,
    private readonly onDraw: (chart: ThemedChart) => void = () => {},
  ) {
    this.resize = new ResizeObserver(() => {
      if (this.plot) this.plot.setSize({ width: this.width(), height: this.spec.height });
    });
    this.resize.observe(host);
    this.create();
    host.addEventListener('dblclick', () => {
      if (!this.zoomed) return;
      this.zoomed = false;
      this.plot?.setData(this.shown(), true);
    });
  }

  private width(): number {
    return Math.max(200, Math.floor(this.host.clientWidth || 600));
  }

  /** Replaces the spec (series, log scale, labels) and rebuilds the chart with the current data. */
  rebuild(spec: ChartSpec = this.spec): void {
    this.spec = spec;
    this.plot?.destroy();
    this.plot = undefined;
    this.zoomed = false;
    this.create();
  }

  /**
   * Takes a spec that only appends series (a new task's curve) without rebuilding the chart (building
   * one costs far more than drawing it); any other change rebuilds.
   */
  updateSpec(spec: ChartSpec): void {
    const old = this.spec;
    const appended =
      this.plot &&
      spec.log === old.log &&
      spec.xLabel === old.xLabel &&
      spec.series.length >= old.series.length &&
      old.series.every((s, i) => s.label === spec.series[i].label);
    if (!appended) {
      this.rebuild(spec);
      return;
    }
    this.spec = spec;
    for (let i = old.series.length; i < spec.series.length; i++) this.plot!.addSeries(this.seriesOptions(spec.series[i], chartTheme()));
  }

  setData(data: ChartData): void {
    this.data = data;
    if (!this.plot || this.plot.series.length !== data.length) this.rebuild();
    else this.plot.setData(this.shown(), !this.zoomed);
  }

  /** What uPlot gets: every point while zoomed in, else about two points per pixel column. */
  private shown(): uPlot.AlignedData {
    return (this.zoomed ? this.data : decimateAligned(this.data, this.width())) as uPlot.AlignedData;
  }

  /** Points in the first data series (what the tests check). */
  get points(): number {
    return this.data[0]?.length ?? 0;
  }

  destroy(): void {
    this.resize?.disconnect();
    this.plot?.destroy();
    this.plot = undefined;
  }

  private seriesOptions(s: SeriesSpec, theme: ChartTheme): uPlot.Series {
    const colour = typeof s.color === 'number' ? theme.palette[s.color % theme.palette.length] : s.color;
    const yFormat = this.spec.yFormat ?? formatMetric;
    return {
      label: s.label,
      stroke: colour,
      width: s.width ?? 1.5,
      dash: s.dash,
      alpha: s.alpha,
      spanGaps: s.spanGaps ?? false,
      points: s.points ? { show: true, size: 6, fill: colour } : { show: false },
      value: (_u, v) => (v === null || v === undefined ? '—' : yFormat(v)),
    };
  }

  private create(): void {
    const theme = chartTheme();
    const axis = (label: string, fmt?: (v: number) => string): uPlot.Axis => ({
      label,
      stroke: theme.muted,
      labelFont: '12px sans-serif',
      font: '11px sans-serif',
      grid: { stroke: theme.grid, width: 1 },
      ticks: { stroke: theme.grid, width: 1 },
      ...(fmt ? { values: (_u: uPlot, splits: number[]) => splits.map(fmt) } : {}),
    });
    const xFormat = this.spec.xFormat ?? ((v: number) => formatShortCount(v));
    const yFormat = this.spec.yFormat ?? formatMetric;
    this.zoomed = false;
    const series: uPlot.Series[] = [
      { label: this.spec.xLabel, value: (_u, v) => (v === null || v === undefined ? '—' : xFormat(v)) },
      ...this.spec.series.map((s) => this.seriesOptions(s, theme)),
    ];
    const opts: uPlot.Options = {
      width: this.width(),
      height: this.spec.height,
      scales: { x: { time: false }, y: this.spec.log ? { distr: 3, log: 10 } : { distr: 1 } },
      axes: [axis(this.spec.xLabel, xFormat), axis(this.spec.yLabel, yFormat)],
      series,
      legend: { live: true },
      cursor: { drag: { x: true, y: false, setScale: true } },
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 0 && !this.zoomed) {
              // Zooming in: swap in every point, keeping the scales the drag just set.
              this.zoomed = true;
              u.setData(this.data as uPlot.AlignedData, false);
            }
          },
        ],
        draw: [() => this.onDraw(this)],
      },
    };
    // Before the first data, an empty chart: building it now keeps its cost out of the first draw.
    const data = this.data.length === series.length ? this.shown() : (series.map(() => []) as unknown as uPlot.AlignedData);
    this.plot = new uPlot(opts, data, this.host);
  }
}
