// Charts: recharts with one look. Animations are off: the data changes every round.
import { Bar, BarChart, CartesianGrid, Cell, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import { ChartEmpty } from './components.tsx';
import { formatBytes, pct } from './format.ts';

export const COLORS = {
  global: '#4f46e5',
  local: '#d97706',
  f1: '#0d9488',
  loss: '#e11d48',
  train: '#64748b',
  up: '#4f46e5',
  down: '#0d9488',
};
const LABEL_COLORS = ['#e11d48', '#64748b', '#16a34a', '#4f46e5', '#d97706', '#0d9488'];

const HEIGHT = 220;
const axis = { stroke: '#94a3b8', fontSize: 12 };
const tooltipStyle = { borderRadius: 8, border: '1px solid #e2e8f0', fontSize: 12 };

export interface LineSpec {
  key: string;
  name: string;
  color: string;
  dashed?: boolean;
}

export type Row = { round: number } & Record<string, number | null>;

export function RoundLineChart(props: {
  data: Row[];
  lines: LineSpec[];
  testId: string;
  percent?: boolean;
  empty: string;
}) {
  const fmt = props.percent ? (v: number) => pct(v, 0) : (v: number) => (Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2));
  return (
    <div className="chart" data-testid={props.testId} data-rounds={props.data.length}>
      {props.data.length === 0 ? (
        <ChartEmpty>{props.empty}</ChartEmpty>
      ) : (
        <LineChart responsive data={props.data} style={{ width: '100%', height: HEIGHT }} margin={{ top: 8, right: 16, bottom: 4, left: 0 }}>
          <CartesianGrid stroke="#eef2f7" vertical={false} />
          <XAxis dataKey="round" {...axis} tickLine={false} allowDecimals={false} />
          <YAxis
            {...axis}
            tickLine={false}
            width={48}
            domain={props.percent ? [0, 1] : [0, 'auto']}
            tickFormatter={fmt}
          />
          <Tooltip
            contentStyle={tooltipStyle}
            labelFormatter={(r) => `Round ${String(r)}`}
            formatter={(v) => (typeof v === 'number' ? (props.percent ? pct(v) : v.toFixed(4)) : String(v))}
          />
          <Legend iconType="plainline" wrapperStyle={{ fontSize: 12 }} />
          {props.lines.map((l) => (
            <Line
              key={l.key}
              type="linear"
              dataKey={l.key}
              name={l.name}
              stroke={l.color}
              strokeWidth={2}
              strokeDasharray={l.dashed ? '5 4' : undefined}
              dot={{ r: 3 }}
              connectNulls
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      )}
    </div>
  );
}

export function BytesChart(props: { data: { round: number; up: number; down: number }[]; testId: string }) {
  return (
    <div className="chart" data-testid={props.testId} data-rounds={props.data.length}>
      {props.data.length === 0 ? (
        <ChartEmpty>Traffic shows up after the first round.</ChartEmpty>
      ) : (
        <BarChart responsive data={props.data} style={{ width: '100%', height: HEIGHT }} margin={{ top: 8, right: 16, bottom: 4, left: 8 }}>
          <CartesianGrid stroke="#eef2f7" vertical={false} />
          <XAxis dataKey="round" {...axis} tickLine={false} />
          <YAxis {...axis} tickLine={false} width={64} tickFormatter={(v: number) => formatBytes(v)} />
          <Tooltip
            contentStyle={tooltipStyle}
            labelFormatter={(r) => `Round ${String(r)}`}
            formatter={(v) => (typeof v === 'number' ? formatBytes(v) : String(v))}
          />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          <Bar dataKey="up" name="up (clients → server)" fill={COLORS.up} radius={[3, 3, 0, 0]} isAnimationActive={false} />
          <Bar dataKey="down" name="down (server → clients)" fill={COLORS.down} radius={[3, 3, 0, 0]} isAnimationActive={false} />
        </BarChart>
      )}
    </div>
  );
}

export function LabelHistogram(props: { counts: number[] | null; labels: readonly string[]; testId: string }) {
  const data = (props.counts ?? []).map((count, i) => ({ label: props.labels[i] ?? `class ${i}`, count }));
  return (
    <div className="chart" data-testid={props.testId} data-counts={props.counts?.join(',') ?? ''}>
      {data.length === 0 ? (
        <ChartEmpty>The label mix appears once the shard is built.</ChartEmpty>
      ) : (
        <BarChart responsive data={data} style={{ width: '100%', height: 180 }} margin={{ top: 8, right: 8, bottom: 4, left: 0 }}>
          <CartesianGrid stroke="#eef2f7" vertical={false} />
          <XAxis dataKey="label" {...axis} tickLine={false} />
          <YAxis {...axis} tickLine={false} width={40} allowDecimals={false} />
          <Tooltip contentStyle={tooltipStyle} cursor={{ fill: '#f1f5f9' }} />
          <Bar dataKey="count" name="examples" radius={[4, 4, 0, 0]} isAnimationActive={false}>
            {data.map((d, i) => (
              <Cell key={d.label} fill={LABEL_COLORS[i % LABEL_COLORS.length]} />
            ))}
          </Bar>
        </BarChart>
      )}
    </div>
  );
}

/** A tiny inline histogram for table cells. */
export function MiniBars(props: { counts: number[]; labels: readonly string[] }) {
  const max = Math.max(1, ...props.counts);
  const title = props.counts.map((c, i) => `${props.labels[i] ?? `class ${i}`}: ${c}`).join(', ');
  return (
    <span className="minibars" title={title} aria-label={title}>
      {props.counts.map((c, i) => (
        <span key={i} style={{ height: `${Math.max(2, (c / max) * 18)}px`, background: LABEL_COLORS[i % LABEL_COLORS.length] }} />
      ))}
    </span>
  );
}
