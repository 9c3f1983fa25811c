/**
 * Run a program under measurement as a child process, so the load generator (this process) and the
 * program measured never share one event loop, the same way tinyproxy, Squid or coturn run.
 *
 * `startViaduct` starts the built binary (dist/bin/viaduct.js, `npm run build` first) with every
 * listener off except the ones given, on 127.0.0.1 port 0, and reads the listening addresses it prints.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const BIN = fileURLToPath(new URL('../bin/viaduct.js', import.meta.url))

export interface ChildListener {
  mode: string
  listener: string
  transport: string
  host: string
  port: number
}

export interface RunningProgram {
  pid: number
  listeners: ChildListener[]
  /** Port of a listener by its label ("http", "socks", "pairing-tcp", "turn-udp", ...). */
  port(listener: string): number
  /** Peak resident memory of the child so far, in MiB (from /proc/PID/status VmHWM; NaN elsewhere). */
  peakRssMiB(): number
  /** CPU time (user + system) the child used so far, in ms (from /proc/PID/stat; NaN elsewhere). */
  cpuMs(): number
  /** SIGTERM, then SIGKILL after 3 s. Safe twice. */
  stop(): Promise<void>
}

/** Every listener off; `flags` turns on what the scenario measures, e.g. ['--http', '127.0.0.1:0']. */
export const ALL_OFF_FLAGS = ['--http', 'off', '--socks', 'off', '--mixed', 'off', '--relay', 'off', '--turn', 'off', '--admin', 'off']

/** Later flags win, so `flags` override ALL_OFF_FLAGS. */
export async function startViaduct(flags: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; bin?: string } = {}): Promise<RunningProgram> {
  const child = spawn(process.execPath, [...profileFlags(), opts.bin ?? BIN, 'start', ...ALL_OFF_FLAGS, '--log-level', 'warn', ...flags], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...viaductEnv(), ...opts.env },
  })
  const listeners: ChildListener[] = []
  let stderr = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`viaduct did not start in time:\n${stderr}`)), opts.timeoutMs ?? 15_000)
    function fail(err: Error) {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(err)
    }
    child.once('exit', (code) => fail(new Error(`viaduct exited with ${code}:\n${stderr}`)))
    child.stderr!.setEncoding('utf8')
    let ready = false
    child.stderr!.on('data', (chunk: string) => {
      // After start, later lines (e.g. "SIGTERM: stopping") must not run this again: it would remove
      // the 'exit' listener stop() relies on.
      if (ready) return
      if (stderr.length < 64 * 1024) stderr += chunk
      const lines = stderr.split('\n')
      const start = lines.findIndex((l) => l.includes('listening on:'))
      if (start < 0) return
      const rest = lines.slice(start + 1)
      // The block ends at the first line that is not an indented listener line (or at a complete empty line).
      const end = rest.findIndex((l) => !/^\s{2}\S/.test(l))
      if (end < 0) return
      for (const l of rest.slice(0, end)) {
        const m = /^\s+(\S+)\s+(\S+)\s+(tcp|udp)\s+\[?([^\]\s]+?)\]?:(\d+)\s*$/.exec(l)
        if (m) listeners.push({ mode: m[1], listener: m[2], transport: m[3], host: m[4], port: Number(m[5]) })
      }
      ready = true
      clearTimeout(timer)
      child.removeAllListeners('exit')
      resolve()
    })
  })
  return wrapChild(child, listeners)
}

/**
 * VIADUCT_BENCH_CPU_PROF=DIR: run the Viaduct child under `node --cpu-prof`, writing .cpuprofile files to
 * DIR when it stops (open them in Chrome DevTools or speedscope).
 */
function profileFlags(): string[] {
  const dir = process.env.VIADUCT_BENCH_CPU_PROF
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : []
}

/**
 * VIADUCT_BENCH_VIADUCT_ENV="NAME=value,NAME=value": extra environment for the Viaduct child only (not the
 * load generator, the origin or the other programs), for A/B runs of process tuning such as
 * MALLOC_TRIM_THRESHOLD_ (see docs/benchmarks-forward.md).
 */
function viaductEnv(): Record<string, string> {
  const out: Record<string, string> = {}
  for (const kv of (process.env.VIADUCT_BENCH_VIADUCT_ENV ?? '').split(',')) {
    const i = kv.indexOf('=')
    if (i > 0) out[kv.slice(0, i).trim()] = kv.slice(i + 1)
  }
  return out
}

/** A Viaduct build or environment measured next to the current one, for before/after figures in one run. */
export interface ViaductVariant {
  /** Path label, e.g. "viaduct (baseline)". */
  label: string
  bin?: string
  env?: Record<string, string>
}

/**
 * Optional extra Viaduct paths, measured in the same interleaved rounds as the current build:
 * - VIADUCT_BENCH_BASELINE_BIN=/path/to/other/dist/bin/viaduct.js: an older build ("viaduct (baseline)");
 * - VIADUCT_BENCH_VARIANT_ENV="NAME=value,...": the current build with extra environment ("viaduct (NAME=value)").
 */
export function viaductVariants(): ViaductVariant[] {
  const out: ViaductVariant[] = []
  const bin = process.env.VIADUCT_BENCH_BASELINE_BIN
  if (bin) out.push({ label: 'baseline', bin })
  const envText = process.env.VIADUCT_BENCH_VARIANT_ENV
  if (envText) {
    const env: Record<string, string> = {}
    for (const kv of envText.split(',')) {
      const i = kv.indexOf('=')
      if (i > 0) env[kv.slice(0, i).trim()] = kv.slice(i + 1)
    }
    out.push({ label: Object.keys(env).join(','), env })
  }
  return out
}

/** A program started by startJsonChild: the JSON object it printed on its first stdout line. */
export interface JsonChild<T> extends RunningProgram {
  info: T
}

/**
 * Start a helper program that listens on port 0 and prints one JSON line on stdout (bench/origin.js,
 * bench/relay.js, the C reference relay). Its stdin is a pipe, so it exits if this process dies.
 */
export async function startJsonChild<T>(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<JsonChild<T>> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'ignore'] })
  const info = await new Promise<T>((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => fail(new Error(`${cmd} did not start in time`)), opts.timeoutMs ?? 15_000)
    function fail(err: Error) {
      clearTimeout(timer)
      child.kill('SIGKILL')
      reject(err)
    }
    child.once('error', fail)
    child.once('exit', (code) => fail(new Error(`${cmd} exited with ${code}`)))
    child.stdout!.setEncoding('utf8')
    const onData = (d: string) => {
      out += d
      const i = out.indexOf('\n')
      if (i < 0) return void (out.length > 4096 && fail(new Error(`${cmd}: no JSON line`)))
      clearTimeout(timer)
      child.stdout!.off('data', onData)
      child.stdout!.resume()
      child.removeAllListeners('exit')
      child.removeAllListeners('error')
      try {
        resolve(JSON.parse(out.slice(0, i)) as T)
      } catch {
        fail(new Error(`${cmd}: not JSON: ${out.slice(0, 200)}`))
      }
    }
    child.stdout!.on('data', onData)
  })
  child.stdin!.on('error', () => undefined)
  return Object.assign(wrapChild(child, []), { info })
}

/** A built helper script of bench/ (dist/bench/NAME.js), run with this node. */
export function benchScript(name: string): [string, string[]] {
  return [process.execPath, [fileURLToPath(new URL(`./${name}.js`, import.meta.url))]]
}

let cRelay: string | null | undefined

/**
 * The C splice(2) reference relay (bench/reference/splice-relay.c), compiled once per run into a temporary
 * directory with the system's `cc`; undefined when there is no compiler (or it fails).
 */
export function cReferenceRelay(): string | undefined {
  if (cRelay !== undefined) return cRelay ?? undefined
  cRelay = null
  try {
    const src = fileURLToPath(new URL('../../bench/reference/splice-relay.c', import.meta.url))
    const out = join(mkdtempSync(join(tmpdir(), 'viaduct-bench-relay-')), 'splice-relay')
    execFileSync('cc', ['-O2', '-pthread', '-o', out, src], { stdio: 'ignore', timeout: 60_000 })
    cRelay = out
  } catch {
    // no compiler: the scenarios note it
  }
  return cRelay ?? undefined
}

/** Start any program (tinyproxy, squid, turnserver, ...) and wait until `ready()` resolves. */
export async function startProgram(cmd: string, args: string[], ready: () => Promise<void>, opts: { timeoutMs?: number } = {}): Promise<RunningProgram> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'ignore'] })
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${cmd} exited with ${code}`))))
  exited.catch(() => {})
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${cmd} not ready in time`)), opts.timeoutMs ?? 15_000).unref())
  try {
    await Promise.race([ready(), exited, timeout])
  } catch (err) {
    child.kill('SIGKILL')
    throw err
  }
  return wrapChild(child, [])
}

function wrapChild(child: ChildProcess, listeners: ChildListener[]): RunningProgram {
  let stopping: Promise<void> | undefined
  return {
    pid: child.pid!,
    listeners,
    port(listener) {
      const l = listeners.find((x) => x.listener === listener)
      if (!l) throw new Error(`no listener "${listener}" (have: ${listeners.map((x) => x.listener).join(', ')})`)
      return l.port
    },
    peakRssMiB() {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
        return m ? Number(m[1]) / 1024 : NaN
      } catch {
        return NaN
      }
    },
    cpuMs() {
      try {
        // fields after the command name: state is 3rd, utime 14th, stime 15th (clock ticks, 100 per second)
        const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')
        return (Number(f[11]) + Number(f[12])) * 10
      } catch {
        return NaN
      }
    },
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        const kill = setTimeout(() => child.kill('SIGKILL'), 3000)
        child.once('exit', () => {
          clearTimeout(kill)
          resolve()
        })
        child.kill('SIGTERM')
      })
      return stopping
    },
  }
}

/** The ports bench/origin.js serves (see there). */
export interface OriginPorts {
  http: number
  source: number
  sink: number
  echo: number
}

/** Start the benchmark origin (dist/bench/origin.js) in its own process. */
export function startOrigin(): Promise<JsonChild<OriginPorts>> {
  const [cmd, args] = benchScript('origin')
  return startJsonChild<OriginPorts>(cmd, args)
}

/** A reference relay to one fixed target: a path measured next to Viaduct to show this machine's ceiling. */
export interface ReferenceRelay {
  path: string
  port: number
  prog: RunningProgram
}

/**
 * The reference relays to 127.0.0.1:targetPort: a Node.js `pipe` relay (dist/bench/relay.js) and, when a C
 * compiler is installed, the C splice(2) relay. `missing` gets a note for each one that cannot run.
 */
export async function startReferenceRelays(targetPort: number, missing: (path: string, note: string) => void): Promise<ReferenceRelay[]> {
  const out: ReferenceRelay[] = []
  const [cmd, args] = benchScript('relay')
  const node = await startJsonChild<{ port: number }>(cmd, [...args, String(targetPort)])
  out.push({ path: 'node pipe relay', port: node.info.port, prog: node })
  const c = cReferenceRelay()
  if (c) {
    const p = await startJsonChild<{ port: number }>(c, [String(targetPort)])
    out.push({ path: 'C splice relay', port: p.info.port, prog: p })
  } else missing('C splice relay', 'no C compiler (cc) to build bench/reference/splice-relay.c')
  return out
}

/** A free loopback port (bound once, then released) for programs that cannot listen on port 0. */
export async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}
