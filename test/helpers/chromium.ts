/**
 * Headless Debian Chromium for tests, kept on loopback as ../shared/CHROMIUM.md says:
 * host resolver mapped to NOTFOUND except the addresses a test needs, no background networking,
 * no mDNS host candidates, no prediction/prefetch, no error-page probes, a fresh profile with those
 * prefs written before launch, and Google's background hosts bypassing any proxy under test.
 * playwright-core drives it with executablePath; it never downloads a browser.
 */
import type { Test } from 'tap'
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { chromium, type BrowserContext } from 'playwright-core'
import { findProgram, requireProgram } from './programs.js'

export const CHROMIUM_PATH = '/usr/bin/chromium'

/**
 * Chromium keeps only the LAST --disable-features, and ours comes after playwright-core's own, so it must
 * repeat playwright-core's list (1.65) and add what keeps traffic local.
 */
const PLAYWRIGHT_DISABLED = [
  'AvoidUnnecessaryBeforeUnloadCheckSync',
  'DestroyProfileOnBrowserClose',
  'HttpsUpgrades',
  'HttpsFirstBalancedModeAutoEnable',
  'LensOverlay',
  'MediaRouter',
  'PaintHolding',
  'ThirdPartyStoragePartitioning',
  'AvoidCorsURLLoaderRestartOnRedirect',
  'OptimizationHints',
  'NetworkTimeServiceQuerying',
  'AimEnabled',
  'PreconnectToSearch',
]
const OUR_DISABLED = ['WebRtcHideLocalIpsWithMdns', 'Translate', 'AutofillServerCommunication', 'CertificateTransparencyComponentUpdater']

export const GOOGLE_BYPASS = '*.google.com;*.googleapis.com;*.gstatic.com'

export interface BrowserOptions {
  /** --proxy-server value, e.g. "http://127.0.0.1:8080" or "socks5://127.0.0.1:1080". */
  proxy?: string
  /** Extra bypass entries; "<-loopback>" is added when a proxy is set so loopback targets use it. */
  bypass?: string[]
  /** --proxy-pac-url */
  pacUrl?: string
  /** Playwright's proxy option (answers 407 with these credentials). */
  playwrightProxy?: { server: string; username?: string; password?: string; bypass?: string }
  /** Extra IPs the host resolver may resolve (127.0.0.1 is always allowed). */
  allowIps?: string[]
  /** Host names mapped to IPs (MAP name ip). */
  mapHosts?: Record<string, string>
  extraArgs?: string[]
}

/** True when this process runs in a network namespace with only "lo" (see .ci/run). */
export function loopbackOnlyNamespace(): boolean {
  return Object.keys(networkInterfaces()).every((n) => n === 'lo')
}

export function chromiumArgs(opts: BrowserOptions = {}): string[] {
  const rules: string[] = []
  for (const [name, ip] of Object.entries(opts.mapHosts ?? {})) rules.push(`MAP ${name} ${ip}`)
  rules.push('MAP * ~NOTFOUND', 'EXCLUDE 127.0.0.1', 'EXCLUDE localhost')
  for (const ip of opts.allowIps ?? []) rules.push(`EXCLUDE ${ip}`)
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-pings',
    '--disable-domain-reliability',
    '--disable-breakpad',
    '--disable-default-apps',
    '--disable-extensions',
    '--disable-client-side-phishing-detection',
    '--metrics-recording-only',
    `--host-resolver-rules=${rules.join(' , ')}`,
    `--disable-features=${[...PLAYWRIGHT_DISABLED, ...OUR_DISABLED].join(',')}`,
  ]
  if (loopbackOnlyNamespace()) args.push('--allow-loopback-in-peer-connection')
  if (opts.proxy) {
    args.push(`--proxy-server=${opts.proxy}`)
    args.push(`--proxy-bypass-list=${['<-loopback>', GOOGLE_BYPASS, ...(opts.bypass ?? [])].join(';')}`)
  }
  if (opts.pacUrl) args.push(`--proxy-pac-url=${opts.pacUrl}`)
  return [...args, ...(opts.extraArgs ?? [])]
}

function writePrefs(userDataDir: string): void {
  const dir = join(userDataDir, 'Default')
  mkdirSync(dir, { recursive: true })
  const prefs = {
    alternate_error_pages: { enabled: false },
    net: { network_prediction_options: 2 },
    dns_prefetching: { enabled: false },
    safebrowsing: { enabled: false },
    search: { suggest_enabled: false },
    translate: { enabled: false },
  }
  writeFileSync(join(dir, 'Preferences'), JSON.stringify(prefs))
}

type TapLike = Pick<Test, 'pass' | 'fail' | 'comment' | 'teardown'>

/**
 * Launch Chromium (persistent context, fresh profile) or skip/fail the test when it is not installed.
 * Closed at teardown.
 */
export async function launchChromium(t: TapLike, opts: BrowserOptions = {}): Promise<BrowserContext | undefined> {
  if (!requireProgram(t, CHROMIUM_PATH, 'Debian package chromium')) return undefined
  const userDataDir = mkdtempSync(join(tmpdir(), 'viaduct-chromium-'))
  writePrefs(userDataDir)
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: chromiumArgs(opts),
    proxy: opts.playwrightProxy,
    timeout: 30_000,
  })
  t.teardown(async () => {
    await ctx.close().catch(() => undefined)
    rmSync(userDataDir, { recursive: true, force: true })
  })
  return ctx
}

export function haveChromium(): boolean {
  return findProgram(CHROMIUM_PATH) !== undefined
}
