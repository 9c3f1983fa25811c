/**
 * Load the configuration once at start: embedded defaults < file (JSON or YAML) < environment
 * (VIADUCT_*) < command-line flags. Validate with the composed schema, run each mode's safety checks,
 * deep-freeze. Every problem names the full key path and, where it can, a hint.
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import { CoreErrors, ViaductError } from '../core/errors.js'
import { isLoopbackHost } from '../core/net-policy.js'
import type { FlagSpec, ModeDefinition } from '../mode.js'
import { buildSchema, type ViaductConfig } from './schema.js'
import { describeValue } from './types.js'

export interface LoadInput {
  /** Path of a JSON or YAML file. */
  file?: string
  /** Environment (VIADUCT_* keys are read). */
  env?: NodeJS.ProcessEnv
  /** Values from command-line flags, keyed by FlagSpec.flags' long name without dashes (commander's camelCase). */
  flags?: Record<string, unknown>
  /** An object merged over the file (tests, library use). */
  overrides?: Record<string, unknown>
}

type Obj = Record<string, unknown>

export function readConfigFile(file: string): Obj {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_FILE, `cannot read config file ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err })
  }
  const ext = extname(file).toLowerCase()
  let data: unknown
  try {
    data = ext === '.json' ? JSON.parse(text) : parseYaml(text, { prettyErrors: true })
  } catch (err) {
    throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_FILE, `cannot parse ${file} as ${ext === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`, { cause: err })
  }
  if (data === null || data === undefined) return {}
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_FILE, `${file} must hold a mapping of sections (log, admin, forward, relay, ...)`)
  }
  return data as Obj
}

/** commander's attribute name of a flag: "--relay-secret <s>" -> "relaySecret". */
export function flagKey(spec: FlagSpec): string {
  const long = /--([a-z0-9-]+)/.exec(spec.flags)?.[1] ?? ''
  return long.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase())
}

/** The environment variable of a flag: "--relay-secret" -> VIADUCT_RELAY_SECRET. */
export function flagEnv(spec: FlagSpec): string {
  const long = /--([a-z0-9-]+)/.exec(spec.flags)?.[1] ?? ''
  return `VIADUCT_${long.replace(/-/g, '_').toUpperCase()}`
}

function setPath(obj: Obj, path: string[], value: unknown, append: boolean): void {
  let cur = obj
  for (const k of path.slice(0, -1)) {
    const next = cur[k]
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[k] = {}
    cur = cur[k] as Obj
  }
  const last = path[path.length - 1]
  if (append) {
    const prev = Array.isArray(cur[last]) ? (cur[last] as unknown[]) : []
    cur[last] = [...prev, ...(Array.isArray(value) ? value : [value])]
  } else {
    cur[last] = value
  }
}

function coerce(spec: FlagSpec, raw: unknown, where: string): unknown {
  switch (spec.kind) {
    case 'boolean':
      if (typeof raw === 'boolean') return raw
      if (/^(1|true|yes|on)$/i.test(String(raw))) return true
      if (/^(0|false|no|off)$/i.test(String(raw))) return false
      throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_INVALID, `${where}: expected true or false, got "${String(raw)}"`)
    case 'number': {
      const n = Number(raw)
      if (!Number.isFinite(n)) throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_INVALID, `${where}: expected a number, got "${String(raw)}"`)
      return n
    }
    case 'list':
      // env: comma-separated; flags: already an array
      return Array.isArray(raw) ? raw : String(raw).split(',').map((s) => s.trim()).filter(Boolean)
    default:
      return raw
  }
}

/** Merge file, env and flags into one raw object (not yet validated). */
export function mergeSources(modes: readonly ModeDefinition[], input: LoadInput, coreFlags: FlagSpec[]): Obj {
  const raw: Obj = input.file ? readConfigFile(input.file) : {}
  const merged = deepMerge(raw, input.overrides ?? {})
  const specs = [...coreFlags, ...modes.flatMap((m) => m.flags)]
  const env = input.env ?? {}
  // env over file; a list flag's env replaces the file's list
  for (const spec of specs) {
    const v = env[flagEnv(spec)]
    if (v === undefined || v === '') continue
    setPath(merged, spec.path, coerce(spec, v, flagEnv(spec)), false)
  }
  // flags over env; a repeatable flag replaces what env/file said
  for (const spec of specs) {
    const v = input.flags?.[flagKey(spec)]
    if (v === undefined) continue
    setPath(merged, spec.path, coerce(spec, v, spec.flags.split(' ')[0]), false)
  }
  return merged
}

function deepMerge(a: Obj, b: Obj): Obj {
  const out: Obj = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k]
    if (v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev)) {
      out[k] = deepMerge(prev as Obj, v as Obj)
    } else {
      out[k] = v
    }
  }
  return out
}

/** Validate a raw object into the frozen config. Throws one ViaductError listing every problem. */
export function validateConfig(modes: readonly ModeDefinition[], raw: Obj): Readonly<ViaductConfig> {
  const schema = buildSchema(modes)
  const res = schema.safeParse(raw, { reportInput: true })
  if (!res.success) {
    const problems = res.error.issues.flatMap((i) => describeIssue(schema, i))
    throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_INVALID, formatProblems(problems), { details: { problems } })
  }
  const cfg = res.data as ViaductConfig
  const problems: Array<[string, string]> = []
  const admin = cfg.admin.listen
  if (admin && !isLoopbackHost(admin.host) && !cfg.admin.token) {
    problems.push(['admin.listen', `listening on ${admin.host} without admin.token would expose sessions and metrics to anyone; set --admin-token (16+ characters) or keep it on loopback`])
  }
  for (const m of modes) {
    for (const [path, msg] of m.check?.(cfg[m.name]) ?? []) problems.push([path, msg])
  }
  if (problems.length) {
    throw new ViaductError(CoreErrors.VIADUCT_ERR_CONFIG_UNSAFE, formatProblems(problems), { details: { problems } })
  }
  return deepFreeze(cfg)
}

export function loadConfig(modes: readonly ModeDefinition[], input: LoadInput = {}, coreFlags: FlagSpec[] = []): Readonly<ViaductConfig> {
  return validateConfig(modes, mergeSources(modes, input, coreFlags))
}

function formatProblems(problems: Array<[string, string]>): string {
  if (problems.length === 1) return `${problems[0][0]}: ${problems[0][1]}`
  return `${problems.length} problems in the configuration:\n${problems.map(([p, m]) => `  - ${p}: ${m}`).join('\n')}`
}

function describeIssue(root: z.ZodType, issue: z.core.$ZodIssue): Array<[string, string]> {
  const path = issue.path.map(String).join('.') || '(top level)'
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(root, issue.path.map(String))
    return issue.keys.map((k) => {
      const full = [...issue.path.map(String), k].join('.')
      const near = closest(k, known)
      const hint = near ? ` (did you mean ${[...issue.path.map(String), near].join('.')}?)` : known.length ? ` (known keys: ${known.join(', ')})` : ''
      return [full, `unknown key${hint}`] as [string, string]
    })
  }
  if (issue.code === 'invalid_union') {
    // a custom message (durations) says what was expected; otherwise say what was given
    if (issue.message && !/^Invalid input/.test(issue.message)) return [[path, issue.message]]
    return [[path, `${describeValue(issue.input)} has the wrong type or form`]]
  }
  if (issue.code === 'invalid_type') {
    if (issue.input === undefined) return [[path, `required (${expectedWords(issue.expected)})`]]
    const hint = issue.expected === 'array' && typeof issue.input === 'string' ? `; write a list, e.g. [${JSON.stringify(issue.input)}], or one "- item" per line in YAML` : ''
    return [[path, `expected ${expectedWords(issue.expected)}, got ${describeValue(issue.input)}${hint}`]]
  }
  if ((issue.code === 'too_small' || issue.code === 'too_big' || issue.code === 'invalid_format' || issue.code === 'invalid_value') && issue.input !== undefined) {
    return [[path, `${issue.message} (got ${describeValue(issue.input)})`]]
  }
  return [[path, issue.message]]
}

function expectedWords(t: string): string {
  return ({ array: 'a list', object: 'a mapping', string: 'a string', number: 'a number', boolean: 'true or false', int: 'a whole number' } as Record<string, string>)[t] ?? t
}

/** The keys the schema accepts at `path` (for the "did you mean" hint). */
function knownKeys(schema: z.ZodType, path: string[]): string[] {
  let cur: unknown = schema
  for (const k of [...path, '']) {
    cur = unwrap(cur)
    const shape = (cur as { shape?: Record<string, unknown> }).shape
    if (!shape) return []
    if (k === '') return Object.keys(shape)
    cur = shape[k]
  }
  return []
}

function unwrap(s: unknown): unknown {
  let cur = s as { def?: { type?: string; innerType?: unknown; in?: unknown } } | undefined
  for (let i = 0; i < 10 && cur?.def; i++) {
    const t = cur.def.type
    if (t === 'default' || t === 'prefault' || t === 'optional' || t === 'nullable' || t === 'readonly') cur = cur.def.innerType as typeof cur
    else if (t === 'pipe') cur = cur.def.in as typeof cur
    else break
  }
  return cur
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase())
    if (d < bestD) {
      bestD = d
      best = c
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}

function levenshtein(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]
    dp[0] = i
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1))
      prev = tmp
    }
  }
  return dp[b.length]
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o)
    for (const v of Object.values(o)) deepFreeze(v)
  }
  return o
}
