/** CSV of what a figure shows, made in the browser from the same rows as its table (UTF-8 with a BOM for Excel). */
export type Cell = string | number | null;

export interface Table {
  columns: string[];
  rows: Cell[][];
}

function quote(cell: Cell): string {
  const text = cell === null ? "" : String(cell);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(table: Table): string {
  return [table.columns, ...table.rows].map((row) => row.map(quote).join(",")).join("\r\n") + "\r\n";
}

export function downloadCsv(name: string, table: Table): void {
  const url = URL.createObjectURL(new Blob(["\ufeff" + toCsv(table)], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
