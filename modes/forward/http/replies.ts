/**
 * Error replies of the HTTP proxy: a status from the error's wire mapping and a short text body that names
 * the cause and its code. The session turns a ViaductError into bytes only here.
 */
import type { ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { CoreErrors, isViaductError, ViaductError } from '../../../src/core/errors.js'
import { ForwardErrors } from '../errors.js'
import { serializeHead } from './headers.js'

/** How long a refused raw socket may linger (reading what the client still sends) before it is destroyed. */
export const LINGER_MS = 1000

export function asViaductError(err: unknown): ViaductError {
  if (isViaductError(err)) return err
  return new ViaductError(ForwardErrors.VIADUCT_ERR_TARGET_FAILED, (err as Error)?.message ?? String(err), { cause: err })
}

export function statusOf(err: ViaductError): number {
  return err.wire.http ?? 502
}

export function reasonPhrase(status: number): string {
  return STATUS_CODES[status] ?? 'Error'
}

/** "502 Bad Gateway\nVIADUCT_ERR_TARGET_REFUSED: 127.0.0.1:9: connection refused\n" */
export function errorBody(err: ViaductError): string {
  const status = statusOf(err)
  return `${status} ${reasonPhrase(status)}\n${err.code}: ${err.message}\n`
}

export interface ReplyOptions {
  /** Realm for the 407 challenge. */
  realm: string
  /** Via value to add, if any. */
  via?: string | null
  /** Close the client connection after the reply. */
  close?: boolean
}

function isAuthError(err: ViaductError): boolean {
  return err.code === ForwardErrors.VIADUCT_ERR_AUTH_REQUIRED || err.code === ForwardErrors.VIADUCT_ERR_AUTH_FAILED
}

/** Header list of an error reply (flat raw form). */
export function errorHeaders(err: ViaductError, body: string, opts: ReplyOptions): string[] {
  const h = ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body)), 'X-Viaduct-Error', err.code]
  // RFC 9110 §11.7.1: a 407 "MUST send a Proxy-Authenticate header field containing a challenge applicable
  // to that proxy"; RFC 7617 §2.1 adds the charset parameter
  if (isAuthError(err)) h.push('Proxy-Authenticate', `Basic realm="${opts.realm.replace(/["\\\r\n]/g, '')}", charset="UTF-8"`)
  if (statusOf(err) === 503 && err.code === CoreErrors.VIADUCT_ERR_SESSION_LIMIT) h.push('Retry-After', '1')
  if (opts.via) h.push('Via', opts.via)
  if (opts.close) h.push('Connection', 'close')
  return h
}

/**
 * Answer a request with an error. When the response has already started, the only honest signal left is to
 * close the client connection mid-body (the client sees a truncated message, never a hang).
 */
export function replyError(res: ServerResponse, err: ViaductError, opts: ReplyOptions): void {
  if (res.headersSent || res.writableEnded) {
    res.destroy()
    return
  }
  const body = res.req.method === 'HEAD' ? '' : errorBody(err)
  const status = statusOf(err)
  if (opts.close) res.shouldKeepAlive = false
  res.writeHead(status, reasonPhrase(status), errorHeaders(err, errorBody(err), opts))
  res.end(body)
}

/**
 * Answer on a raw socket (CONNECT, upgrades, refusals before the HTTP parser, parse errors) and close it:
 * end (FIN) first so the reply is not lost to a reset, keep reading what the client still sends, destroy
 * after a short linger.
 */
export function replyRaw(socket: Socket, err: ViaductError, opts: ReplyOptions): void {
  if (socket.destroyed) return
  const body = errorBody(err)
  const status = statusOf(err)
  if (socket.writable) socket.end(serializeHead(status, reasonPhrase(status), errorHeaders(err, body, { ...opts, close: true })) + body)
  lingerThenDestroy(socket)
}

export function lingerThenDestroy(socket: Socket): void {
  socket.on('error', () => undefined)
  socket.resume()
  const t = setTimeout(() => socket.destroy(), LINGER_MS)
  t.unref()
  socket.once('close', () => clearTimeout(t))
}
