/** Writes the attention JSON file piece by piece, so a long input's maps never sit in one string. */
import * as fs from 'fs';
import * as path from 'path';
import type { LayerMaps } from '../api';

/** Shortest text that reads back as the same float32 value. */
function f32(v: number): string {
  if (Number.isInteger(v)) return String(v);
  for (let p = 6; p < 9; p++) {
    const s = v.toPrecision(p);
    if (Math.fround(Number(s)) === v) return String(Number(s));
  }
  return String(v);
}

function matrixJson(data: Float32Array, offset: number, rows: number, cols: number): string {
  const out: string[] = [];
  for (let i = 0; i < rows; i++) {
    const row: string[] = new Array(cols);
    for (let j = 0; j < cols; j++) row[j] = f32(data[offset + i * cols + j]);
    out.push(`[${row.join(',')}]`);
  }
  return `[${out.join(',')}]`;
}

export class AttentionJsonWriter {
  private readonly fd: number;
  private layersWritten = 0;
  private readonly tmp: string;

  constructor(
    private readonly file: string,
    ids: number[],
    tokens: string[] | undefined,
  ) {
    this.tmp = `${file}.partial`;
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true }); // as `generate` does
    this.fd = fs.openSync(this.tmp, 'w');
    fs.writeSync(this.fd, `{"ids":${JSON.stringify(ids)}` + (tokens ? `,"tokens":${JSON.stringify(tokens)}` : '') + ',"layers":[');
  }

  layer(m: LayerMaps): void {
    const size = m.tq * m.tk;
    const heads = m.heads.map((h, i) => {
      const parts = [`"head":${h}`, `"positive":${matrixJson(m.positive, i * size, m.tq, m.tk)}`];
      if (m.negative) parts.push(`"negative":${matrixJson(m.negative, i * size, m.tq, m.tk)}`);
      if (m.differential) parts.push(`"differential":${matrixJson(m.differential, i * size, m.tq, m.tk)}`);
      return `{${parts.join(',')}}`;
    });
    const lambda = m.lambda === undefined ? '' : `,"lambda":${f32(m.lambda)}`;
    fs.writeSync(this.fd, `${this.layersWritten++ ? ',' : ''}{"layer":${m.layer}${lambda},"heads":[${heads.join(',')}]}`);
  }

  finish(logits?: { data: Float32Array; rows: number; cols: number }): void {
    fs.writeSync(this.fd, ']');
    if (logits) fs.writeSync(this.fd, `,"logits":${matrixJson(logits.data, 0, logits.rows, logits.cols)}`);
    fs.writeSync(this.fd, '}\n');
    fs.closeSync(this.fd);
    fs.renameSync(this.tmp, this.file);
  }

  abort(): void {
    fs.closeSync(this.fd);
    fs.rmSync(this.tmp, { force: true });
  }
}
