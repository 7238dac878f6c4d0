/** One chart: a canvas described for screen readers (role="img" and a label that says what it shows),
 * the same numbers as a table under <details>, and a CSV of that table. Chart.js is tree-shaken: only
 * the controllers, elements and scales used here are registered. */
import {
  BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement,
  Tooltip, type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef } from "preact/hooks";
import { t } from "../../shared/i18n";
import { downloadCsv, type Table } from "./csv";

Chart.register(BarController, BarElement, CategoryScale, Legend, LinearScale, LineController, LineElement, PointElement,
  Tooltip);

/** Colours with at least 3:1 contrast on white, told apart by the legend's words too. */
export const PALETTE = ["#1b6b3a", "#0b4f8a", "#8a4b00", "#b00020", "#6a3d9a", "#00707a"];

export interface ChartProps {
  id: string;
  title: string;
  /** What the chart shows, in a sentence: the canvas's accessible name ends with it. */
  summary: string;
  table: Table;
  config: ChartConfiguration;
  csvName: string;
  empty?: boolean;
}

export function ChartFigure(props: ChartProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current || props.empty) return;
    const chart = new Chart(canvas.current, {
      ...props.config,
      options: { responsive: true, maintainAspectRatio: false, animation: false, ...props.config.options },
    });
    return () => chart.destroy();
  }, [props.config, props.empty]);
  return (
    <section class="card chart-card" aria-labelledby={`${props.id}-title`}>
      <h2 id={`${props.id}-title`}>{props.title}</h2>
      {props.empty
        ? <p class="hint">{t("本期间没有数据。", "No data in this period.")}</p>
        : (
          <div class="chart-box">
            <canvas id={`${props.id}-canvas`} ref={canvas} role="img" aria-label={`${props.title}: ${props.summary}`} />
          </div>
        )}
      <details class="chart-data">
        <summary>{t("数据表", "Data table")}</summary>
        <div class="table-scroll">
          <table id={`${props.id}-table`}>
            <caption class="visually-hidden">{props.title}</caption>
            <thead><tr>{props.table.columns.map((c) => <th scope="col">{c}</th>)}</tr></thead>
            <tbody>
              {props.table.rows.map((row) => (
                <tr>{row.map((cell, i) => i === 0 ? <th scope="row">{cell ?? "—"}</th> : <td>{cell ?? "—"}</td>)}</tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
      <div class="actions">
        <button type="button" onClick={() => downloadCsv(props.csvName, props.table)}>
          {t("下载 CSV", "Download CSV")}<span class="visually-hidden">: {props.title}</span>
        </button>
      </div>
    </section>
  );
}
