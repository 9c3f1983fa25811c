/**
 * Listener lifecycle shared by every mode: listen with a clear error, stop accepting, wait for live
 * connections to end, destroy what is left. Every method is safe to call twice.
 */
import type { AddressInfo, Server, Socket } from 'node:net'
import type { Socket as UdpSocket } from 'node:dgram'
import { ViaductError, CoreErrors } from './errors.js'

/** A listening address, labelled with the listener that owns it (printed at start). */
export interface ListenerInfo extends AddressInfo {
  /** e.g. "http", "socks", "mixed", "pairing-tcp", "pairing-udp", "turn-udp", "turn-tcp", "admin". */
  listener: string
  transport: 'tcp' | 'udp'
  mode: string
}

export interface HostPort {
  host: string
  port: number
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** "ip:port" of a socket's remote end, "[v6]:port" for IPv6. */
export function remoteOf(sock: { remoteAddress?: string; remotePort?: number }): string {
  return formatHostPort(sock.remoteAddress ?? '?', sock.remotePort ?? 0)
}

function listenError(err: NodeJS.ErrnoException, where: string, at: HostPort, transport: 'tcp' | 'udp'): ViaductError {
  // the CLI names the config key and flag of the address from these (src/cli/main.ts)
  const o = { cause: err, details: { host: at.host, port: at.port, transport } }
  switch (err.code) {
    case 'EADDRINUSE':
      return new ViaductError(CoreErrors.VIADUCT_ERR_LISTEN_IN_USE, `${where} is already in use`, o)
    case 'EACCES':
    case 'EPERM':
      return new ViaductError(CoreErrors.VIADUCT_ERR_LISTEN_DENIED, `permission denied to listen on ${where}`, o)
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new ViaductError(CoreErrors.VIADUCT_ERR_LISTEN_ADDRESS, `${where} is not an address of this machine`, o)
    default:
      return new ViaductError(CoreErrors.VIADUCT_ERR_LISTEN_FAILED, `cannot listen on ${where}: ${err.message}`, o)
  }
}

/** Listen a TCP (or http/tls) server; rejects with a ViaductError naming the address. */
export function listenTcp(server: Server, at: HostPort): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      reject(listenError(err, formatHostPort(at.host, at.port), at, 'tcp'))
    }
    const onListening = () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host: at.host, port: at.port, exclusive: true })
  })
}

/** Bind a UDP socket; rejects with a ViaductError naming the address. */
export function bindUdp(sock: UdpSocket, at: HostPort): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      sock.off('listening', onListening)
      reject(listenError(err, `udp ${formatHostPort(at.host, at.port)}`, at, 'udp'))
    }
    const onListening = () => {
      sock.off('error', onError)
      resolve(sock.address())
    }
    sock.once('error', onError)
    sock.once('listening', onListening)
    sock.bind({ address: at.host, port: at.port, exclusive: true })
  })
}

/**
 * Keeps the set of a server's open sockets, so close() can wait for them and destroy() can end them.
 */
export class ConnectionSet {
  private readonly sockets = new Set<Socket>()
  private readonly waiters = new Set<() => void>()

  add(sock: Socket): void {
    this.sockets.add(sock)
    sock.once('close', () => {
      this.sockets.delete(sock)
      if (this.sockets.size === 0) {
        for (const w of this.waiters) w()
        this.waiters.clear()
      }
    })
  }

  get size(): number {
    return this.sockets.size
  }

  /** Resolves when every tracked socket has closed. */
  idle(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve()
    return new Promise((resolve) => this.waiters.add(resolve))
  }

  destroyAll(err?: Error): void {
    for (const s of this.sockets) s.destroy(err)
  }
}

/** Stop accepting on a server; resolves once it stopped (not waiting for open sockets). Safe twice. */
export function stopAccepting(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve()
    server.close(() => resolve())
    // close() waits for connections before calling back; we only want "stopped listening".
    setImmediate(resolve)
  })
}

/** Close a UDP socket once; safe to call twice. */
export function closeUdp(sock: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve())
    } catch {
      resolve() // already closed
    }
  })
}

/** Wrap an async function so that every call after the first returns the first call's promise. */
export function once<A extends unknown[], T>(fn: (...args: A) => Promise<T>): (...args: A) => Promise<T> {
  let p: Promise<T> | undefined
  return (...args: A) => (p ??= fn(...args))
}
