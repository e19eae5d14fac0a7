// Predictions as a CSV file (RFC 4180 quoting), one row a photo: its best class, that class's
// probability, whether it is marked unsure and why, and the model that made it.
import type { PredictionResult } from '../../shared/protocol'

export interface CsvRow {
  file: string
  model: string
  result: PredictionResult | null
}

const HEADER = ['file', 'label', 'probability', 'unsure', 'model']

function field(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value
}

/** Rows still waiting for an answer are left out; a photo that failed keeps its reason in `unsure`. */
export function predictionsCsv(rows: readonly CsvRow[]): string {
  const lines = [HEADER.join(',')]
  for (const { file, model, result } of rows) {
    if (!result) continue
    if ('error' in result) {
      lines.push([file, '', '', `error: ${result.error}`, model].map(field).join(','))
      continue
    }
    const best = result.predictions[0]
    lines.push([file, best?.label ?? '', best ? best.probability.toFixed(6) : '', result.unsure?.reason ?? '', model].map(field).join(','))
  }
  return lines.join('\r\n') + '\r\n'
}
