/**
 * The dashboard's static files (src/admin/ui/: HTML, CSS, plain JavaScript; no build step). They are read
 * once at start from the source folder, which sits beside this module when run from source and at
 * ../../../src/admin/ui/ from the compiled dist/src/admin/. Nothing is fetched from the network.
 */
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'

export interface StaticFile {
  type: string
  body: Buffer
}

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'dashboard.css': 'text/css; charset=utf-8',
  'dashboard.js': 'text/javascript; charset=utf-8',
}

export function uiDirectory(): string | undefined {
  const candidates = [new URL('./ui/', import.meta.url), new URL('../../../src/admin/ui/', import.meta.url)]
  for (const c of candidates) {
    const dir = fileURLToPath(c)
    if (existsSync(join(dir, 'index.html'))) return dir
  }
  return undefined
}

/** Every dashboard file by URL path ("/", "/ui/dashboard.js", ...); empty when the folder is missing. */
export function loadUi(dir = uiDirectory()): Map<string, StaticFile> {
  const out = new Map<string, StaticFile>()
  if (!dir) return out
  for (const [name, type] of Object.entries(FILES)) {
    const body = readFileSync(join(dir, name))
    out.set(`/ui/${name}`, { type, body })
    if (name === 'index.html') out.set('/', { type, body })
  }
  return out
}
