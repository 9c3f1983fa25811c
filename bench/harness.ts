/**
 * Run a program under measurement as a child process, so the load generator (this process) and the
 * program measured never share one event loop, the same way tinyproxy, Squid or coturn run.
 *
 * `startViaduct` starts the built binary (dist/bin/viaduct.js, `npm run build` first) with every
 * listener off except the ones given, on 127.0.0.1 port 0, and reads the listening addresses it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
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
  /** SIGTERM, then SIGKILL after 3 s. Safe twice. */
  stop(): Promise<void>
}

/** Every listener off; `flags` turns on what the scenario measures, e.g. ['--http', '127.0.0.1:0']. */
export const ALL_OFF_FLAGS = ['--http', 'off', '--socks', 'off', '--mixed', 'off', '--relay', 'off', '--turn', 'off', '--admin', 'off']

/** Later flags win, so `flags` override ALL_OFF_FLAGS. */
export async function startViaduct(flags: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunningProgram> {
  const child = spawn(process.execPath, [BIN, 'start', ...ALL_OFF_FLAGS, '--log-level', 'warn', ...flags], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...opts.env },
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
