/**
 * External programs the tests drive (curl, chromium, turnutils_uclient, ...). When one is missing a test
 * skips with a loud message; under CI=true a missing program is a failure, never a silent skip.
 */
import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'

export function findProgram(name: string): string | undefined {
  if (name.startsWith('/')) {
    try {
      accessSync(name, constants.X_OK)
      return name
    } catch {
      return undefined
    }
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || undefined
  } catch {
    return undefined
  }
}

type TapLike = Pick<Test, 'pass' | 'fail' | 'comment' | 'teardown'>

/**
 * Returns the program's path, or undefined after skipping (or failing under CI=true) the test `t`.
 * Usage: `const curl = requireProgram(t, 'curl'); if (!curl) return`
 */
export function requireProgram(t: TapLike, name: string, why = ''): string | undefined {
  const p = findProgram(name)
  if (p) return p
  const msg = `!!! ${name} is not installed${why ? ` (${why})` : ''}: install it (see .ci/run) to run this test`
  if (process.env.CI === 'true') t.fail(`${msg} [CI=true: a missing program is a failure]`)
  else {
    t.comment(msg)
    process.stderr.write(`\n${msg}\n`)
    t.pass(msg, { skip: msg })
  }
  return undefined
}

/** True when running as root with `ip netns` available (NAT lab, namespace tests). */
export function canUseNetns(): boolean {
  if (process.getuid?.() !== 0) return false
  return findProgram('ip') !== undefined && findProgram('unshare') !== undefined
}
