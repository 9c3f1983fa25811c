/**
 * The benchmark's outputs: the text table for stdout and a self-contained HTML report with inline SVG
 * bar charts (no script, no external file), one chart per group and metric, each bar labelled with its
 * value and its ratio to the direct path.
 */
import type { BenchRow } from './types.js'
import { betterDirection } from './metrics.js'

export interface ReportMeta {
  /** The command that produced the figures. */
  command: string
  date: string
  node: string
  cpus: string
  quick: boolean
  /** Scenarios that failed, with their error message. */
  failures: Array<{ scenario: string; message: string }>
}

/** A value with sensible precision: 12345 -> "12345", 12.345 -> "12.3", 0.01234 -> "0.0123". */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v)
  const a = Math.abs(v)
  if (a >= 1000) return Math.round(v).toString()
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(1)
  if (a >= 1) return v.toFixed(2)
  if (a === 0) return '0'
  return v.toPrecision(3)
}

export function formatRatio(r: number | undefined): string {
  return r === undefined || !Number.isFinite(r) ? '' : `${r.toFixed(2)}x`
}

/** A plain-text table: group, path, metric, value, ratio to direct, note. */
export function renderTable(rows: readonly BenchRow[]): string {
  const head = ['group', 'path', 'metric', 'value', 'vs direct', 'note']
  const body = rows.map((r) => [r.group, r.path, r.metric, formatValue(r.value), formatRatio(r.ratio), r.note ?? ''])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)))
  const right = new Set([3, 4])
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : right.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd()
  const out = [line(head), widths.map((w, i) => (i === widths.length - 1 ? '-'.repeat(Math.max(4, Math.min(w, 30))) : '-'.repeat(w))).join('  ')]
  let prev = ''
  for (let i = 0; i < rows.length; i++) {
    if (prev && rows[i].group !== prev) out.push('')
    prev = rows[i].group
    out.push(line(body[i]))
  }
  return out.join('\n') + '\n'
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/** One horizontal bar chart (SVG) of the paths of one group and metric. */
export function barChart(rows: readonly BenchRow[], title: string): string {
  const barH = 22
  const gap = 6
  const labelW = Math.max(170, 12 + 7 * Math.max(0, ...rows.map((r) => r.path.length)))
  const width = 720
  const chartW = width - labelW - 150
  const max = Math.max(...rows.map((r) => (Number.isFinite(r.value) ? r.value : 0)), 1e-9)
  const height = 28 + rows.length * (barH + gap)
  const bars = rows
    .map((r, i) => {
      const y = 24 + i * (barH + gap)
      const w = Number.isFinite(r.value) ? Math.max(1, (r.value / max) * chartW) : 0
      const fill = r.path === 'direct' ? '#98a2b3' : r.path.includes('relay') || r.path.includes('pair') || r.path.includes('turn') ? '#7c3aed' : '#2f6fdf'
      const label = `${formatValue(r.value)} ${r.metric}${r.ratio !== undefined ? ` (${formatRatio(r.ratio)})` : ''}`
      return (
        `<text x="${labelW - 8}" y="${y + barH * 0.7}" text-anchor="end">${escapeHtml(r.path)}</text>` +
        `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" rx="3" fill="${fill}"><title>${escapeHtml(label)}</title></rect>` +
        `<text x="${(labelW + w + 6).toFixed(1)}" y="${y + barH * 0.7}">${escapeHtml(label)}</text>`
      )
    })
    .join('')
  return `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escapeHtml(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12"><text x="0" y="14" font-weight="600">${escapeHtml(title)}</text>${bars}</svg>`
}

/** The HTML report: every group with its charts and rows. Self-contained. */
export function renderHtml(rows: readonly BenchRow[], meta: ReportMeta): string {
  const groups = [...new Set(rows.map((r) => r.group))]
  const sections = groups
    .map((g) => {
      const mine = rows.filter((r) => r.group === g)
      const metrics = [...new Set(mine.map((r) => r.metric))]
      const charts = metrics
        .map((m) => barChart(mine.filter((r) => r.metric === m), `${g}: ${m} (${betterDirection(m)} is better)`))
        .join('\n')
      const table = mine
        .map((r) => `<tr><td>${escapeHtml(r.path)}</td><td>${escapeHtml(r.metric)}</td><td class="n">${formatValue(r.value)}</td><td class="n">${formatRatio(r.ratio)}</td><td>${escapeHtml(r.note ?? '')}</td></tr>`)
        .join('')
      return `<section><h2>${escapeHtml(g)}</h2>${charts}<table><thead><tr><th>path</th><th>metric</th><th>value</th><th>vs direct</th><th>note</th></tr></thead><tbody>${table}</tbody></table></section>`
    })
    .join('\n')
  const failures = meta.failures.length
    ? `<section class="fail"><h2>Scenarios that failed</h2><ul>${meta.failures.map((f) => `<li><b>${escapeHtml(f.scenario)}</b>: ${escapeHtml(f.message)}</li>`).join('')}</ul></section>`
    : ''
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Viaduct benchmark: proxy vs relay vs direct</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1000px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0 4px}td,th{border-bottom:1px solid #e3e6eb;padding:3px 10px;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#667085}.fail{color:#c2410c}
svg{display:block;margin:10px 0}
</style></head><body>
<h1>Viaduct benchmark: the same workloads direct, through the forward proxy and through the relay</h1>
<p class="meta">${escapeHtml(meta.date)} · <code>${escapeHtml(meta.command)}</code> · Node ${escapeHtml(meta.node)} · ${escapeHtml(meta.cpus)}${meta.quick ? ' · quick mode (small counts: compare ratios, not absolutes)' : ''}</p>
<p>Every figure comes from one run on loopback. Ratios compare each path with the direct path measured in the same run; grey bars are direct, blue the forward proxy, purple the relay.</p>
${failures}
${sections || '<p>No rows: no scenario ran.</p>'}
</body></html>
`
}
