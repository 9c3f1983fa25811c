/**
 * `viaduct bench`: the one benchmark code path (`npm run bench` calls it). It runs the scenarios of
 * bench/scenarios/index.ts (each measures a direct path and the same workload through Viaduct, on
 * loopback, bounded in count and time), shows a progress bar on stderr (plain lines when stderr is not a
 * terminal), prints a table with ratios to direct on stdout (or JSON with --json), and writes an HTML
 * report with charts (--report FILE).
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import type { Command } from 'commander'
import type { CliIO } from '../src/mode.js'
import { withRatios } from './stats.js'
import type { BenchRow, Scenario } from './types.js'
import { renderHtml, renderTable, type ReportMeta } from './report.js'

export const DEFAULT_SECONDS = 5
export const QUICK_SECONDS = 1

export interface RunOptions {
  /** Scenario names to run (all when empty). */
  only?: string[]
  quick?: boolean
  seconds?: number
  /** Write the HTML report here. */
  report?: string
  /** JSON rows on stdout instead of the table. */
  json?: boolean
  /** The command line to print in the report. */
  command?: string
}

export interface RunResult {
  rows: BenchRow[]
  failures: ReportMeta['failures']
}

/** Draws "[#####-----] 2/5 scenario: message" on a TTY, or one plain line per message otherwise. */
export class Progress {
  private last = ''
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly tty: boolean,
    private readonly total: number,
    private readonly width = 24,
  ) {}

  show(done: number, scenario: string, message: string): void {
    const frac = this.total === 0 ? 1 : Math.min(1, done / this.total)
    const fill = Math.round(frac * this.width)
    const bar = `[${'#'.repeat(fill)}${'-'.repeat(this.width - fill)}] ${Math.min(done + 1, this.total)}/${this.total} ${scenario}: ${message}`
    if (this.tty) {
      const cols = (this.out as NodeJS.WriteStream).columns ?? 100
      this.out.write(`\r\x1b[K${bar.slice(0, Math.max(20, cols - 1))}`)
    } else if (bar !== this.last) {
      this.out.write(`bench: ${scenario}: ${message}\n`)
    }
    this.last = bar
  }

  end(): void {
    if (this.tty) this.out.write('\r\x1b[K')
  }
}

/** Group rows (groups in order of first appearance, paths in measured order): a stable sort. */
export function sortByGroup(rows: BenchRow[]): BenchRow[] {
  const order = new Map<string, number>()
  for (const r of rows) if (!order.has(r.group)) order.set(r.group, order.size)
  return rows.sort((a, b) => order.get(a.group)! - order.get(b.group)!)
}

/** Select scenarios by name; unknown names are an error listing the known ones. */
export function selectScenarios(all: readonly Scenario[], only: readonly string[] = []): Scenario[] {
  if (only.length === 0) return [...all]
  const names = new Set(all.map((s) => s.name))
  const unknown = only.filter((n) => !names.has(n))
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')} (known: ${[...names].join(', ') || 'none'})`)
  return all.filter((s) => only.includes(s.name))
}

export async function runBench(scenarios: readonly Scenario[], opts: RunOptions, io: Pick<CliIO, 'stdout' | 'stderr'>): Promise<RunResult> {
  const quick = opts.quick ?? false
  const seconds = opts.seconds ?? (quick ? QUICK_SECONDS : DEFAULT_SECONDS)
  const tty = (io.stderr as NodeJS.WriteStream).isTTY === true
  const progress = new Progress(io.stderr, tty, scenarios.length)
  const rows: BenchRow[] = []
  const failures: RunResult['failures'] = []
  for (let i = 0; i < scenarios.length; i++) {
    const s = scenarios[i]
    progress.show(i, s.name, 'starting')
    try {
      const got = await s.run({ quick, seconds, progress: (m) => progress.show(i, s.name, m) })
      rows.push(...got)
      progress.show(i + 1 === scenarios.length ? scenarios.length : i + 1, s.name, `done (${got.length} rows)`)
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      failures.push({ scenario: s.name, message })
      progress.end()
      io.stderr.write(`bench: scenario ${s.name} failed: ${message}\n`)
    }
  }
  progress.end()
  sortByGroup(rows)
  withRatios(rows)
  if (opts.json) io.stdout.write(JSON.stringify({ rows, failures }, null, 2) + '\n')
  else io.stdout.write(rows.length ? renderTable(rows) : 'no rows: no scenario ran\n')
  if (opts.report) {
    const meta: ReportMeta = {
      command: opts.command ?? 'viaduct bench',
      date: new Date().toISOString(),
      node: process.version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
      quick,
      failures,
    }
    writeFileSync(opts.report, renderHtml(rows, meta))
    io.stderr.write(`bench: report written to ${opts.report}\n`)
  }
  return { rows, failures }
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, ...v.split(',').map((x) => x.trim()).filter(Boolean)]
}

/** Register `viaduct bench` on the program (bin/viaduct.ts passes it to runCli's `commands`). */
export function benchCommand(program: Command, io: CliIO): void {
  program
    .command('bench')
    .description('run the side-by-side benchmark on loopback: direct vs forward proxy vs relay (table on stdout, --report FILE for HTML)')
    .option('--only <names>', 'run only these scenarios (comma-separated, repeatable)', collect)
    .option('--quick', 'small counts and short runs (checks that it works; compare ratios only)')
    .option('--seconds <n>', 'seconds each timed measurement may run at most', (v) => Number(v))
    .option('--report <file>', 'write an HTML report with charts')
    .option('--json', 'print the rows as JSON instead of the table')
    .option('--list', 'list the scenarios and exit')
    .action(async (o: { only?: string[]; quick?: boolean; seconds?: number; report?: string; json?: boolean; list?: boolean }) => {
      const { scenarios } = await import('./scenarios/index.js')
      if (o.list) {
        const w = Math.max(0, ...scenarios.map((s) => s.name.length))
        for (const s of scenarios) io.stdout.write(`${s.name.padEnd(w)}  ${s.description}\n`)
        return
      }
      if (o.seconds !== undefined && (!Number.isFinite(o.seconds) || o.seconds <= 0 || o.seconds > 600)) {
        io.stderr.write('viaduct: error: --seconds must be a number from 0 to 600\n')
        io.setExitCode(2)
        return
      }
      let selected: Scenario[]
      try {
        selected = selectScenarios(scenarios, o.only)
      } catch (err) {
        io.stderr.write(`viaduct: error: ${(err as Error).message}\n`)
        io.setExitCode(2)
        return
      }
      const argv = process.argv.slice(2).join(' ')
      const res = await runBench(selected, { ...o, command: `viaduct ${argv || 'bench'}` }, io)
      if (res.failures.length) io.setExitCode(1)
    })
}
