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
