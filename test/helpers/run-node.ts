/** Run a Node.js script (the built viaduct binary, an example) as a child process and collect its output. */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The built command line, as `npm test` builds it. */
export const VIADUCT_BIN = fileURLToPath(new URL('../../dist/bin/viaduct.js', import.meta.url))

export interface NodeRun {
  code: number | null
  stdout: string
  stderr: string
}

/** Run `node ...args` to its end; killed with SIGKILL after `timeoutMs` (its code is then null). */
export function runNode(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<NodeRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** Start `viaduct start ...args` as a child process; `ready` resolves with the listeners it printed. */
export function startViaduct(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, [VIADUCT_BIN, 'start', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  let stdout = ''
  child.stdout.on('data', (d) => (stdout += d))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  const ready = new Promise<Array<{ mode: string; listener: string; transport: string; host: string; port: number }>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening block:\n${stderr}`)), 20_000)
    child.stderr.on('data', (d) => {
      stderr += d
      const m = /listening on:\n((?: {2}.*\n)*)(?=\S|$)/.exec(stderr)
      if (m && /\n(?! {2})/.test(stderr.slice(stderr.indexOf('listening on:') + 14)) ) {
        clearTimeout(timer)
        resolve(
          m[1]
            .split('\n')
            .filter(Boolean)
            .map((l) => {
              const p = /^\s+(\S+)\s+(\S+)\s+(tcp|udp)\s+\[?([^\]\s]+?)\]?:(\d+)$/.exec(l)
              if (!p) throw new Error(`unparsed listener line: ${l}`)
              return { mode: p[1], listener: p[2], transport: p[3], host: p[4], port: Number(p[5]) }
            }),
        )
      }
    })
    child.on('close', () => reject(new Error(`exited before listening:\n${stderr}`)))
  })
  return { child, ready, exited, out: () => ({ stdout, stderr }) }
}
