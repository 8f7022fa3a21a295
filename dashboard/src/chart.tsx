/**
 * A uPlot chart as a Preact component: created once, given new data on every render, resized
 * with its container, destroyed on unmount. Vertical markers (phase boundaries, the rollback's
 * start) are drawn on the canvas with a label each.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** A vertical line at a time (Unix seconds) with a label. */
export interface Marker {
  x: number;
  label: string;
  color: string;
}

export interface ChartProps {
  /** `[xs, ...ys]`, xs in Unix seconds. */
  data: uPlot.AlignedData;
  series: uPlot.Series[];
  height: number;
  markers?: Marker[];
  yRange?: [number, number];
  yValues?: (value: number) => string;
  /** Text alternative of the chart for screen readers. */
  label: string;
  /** Show uPlot's legend (values under the cursor); small charts leave it out. */
  legend?: boolean;
}

function drawMarkers(u: uPlot, markers: Marker[]): void {
  const ctx = u.ctx;
  const { top, height } = u.bbox;
  ctx.save();
  ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  for (const m of markers) {
    const x = Math.round(u.valToPos(m.x, 'x', true));
    ctx.strokeStyle = m.color;
    ctx.fillStyle = m.color;
    ctx.lineWidth = devicePixelRatio;
    ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
    ctx.beginPath();
    ctx.moveTo(x, top);
    ctx.lineTo(x, top + height);
    ctx.stroke();
    ctx.fillText(m.label, x + 3 * devicePixelRatio, top + 2 * devicePixelRatio);
  }
  ctx.restore();
}

export function Chart(props: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const markers = useRef<Marker[]>(props.markers ?? []);
  markers.current = props.markers ?? [];

  useEffect(() => {
    const el = host.current;
    if (!el) return undefined;
    const yValues = props.yValues;
    const options: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: props.height,
      series: [{}, ...props.series],
      scales: { x: { time: true }, y: props.yRange ? { range: props.yRange } : {} },
      axes: [{}, yValues ? { values: (_u, splits) => splits.map((v) => yValues(v)), size: 70 } : { size: 50 }],
      legend: { show: props.legend ?? true },
      cursor: { drag: { x: false, y: false } },
      hooks: { draw: [(u) => drawMarkers(u, markers.current)] },
    };
    plot.current = new uPlot(options, props.data, el);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height: props.height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // Options are fixed for the chart's life; only the data changes.
  }, []);

  useEffect(() => {
    plot.current?.setData(props.data);
  }, [props.data]);

  return <div ref={host} role="img" aria-label={props.label} class="chart" />;
}
