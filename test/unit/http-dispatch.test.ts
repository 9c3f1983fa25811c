/**
 * The pure parts of the undici side: the status-line version sniff (bad input included: truncated, not a
 * status line, random bytes), the mapping of undici's errors, and pool origin keys.
 */
import t from 'tap'
import fc from 'fast-check'
import { MAX_VERSION_ENTRIES, noteVersion, statusLineVersion } from '../../modes/forward/http/agents.js'
import { dispatchError, originOf } from '../../modes/forward/http/dispatch.js'

t.test('statusLineVersion reads the version of a status line and nothing else', async (t) => {
  t.equal(statusLineVersion(Buffer.from('HTTP/1.0 200 OK\r\n')), '1.0')
  t.equal(statusLineVersion(Buffer.from('HTTP/1.1 404 Not Found\r\n')), '1.1')
  t.equal(statusLineVersion(Buffer.from('HTTP/1.')), undefined, 'truncated')
  t.equal(statusLineVersion(Buffer.alloc(0)), undefined, 'empty')
  t.equal(statusLineVersion(Buffer.from('HTTP/x.y 200 OK\r\n')), undefined, 'not digits')
  t.equal(statusLineVersion(Buffer.from('GET / HTTP/1.1\r\n')), undefined, 'a request line')
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const v = statusLineVersion(Buffer.from(bytes))
      return v === undefined || /^[0-9]\.[0-9]$/.test(v)
    }),
  )
})

t.test("dispatchError maps undici's codes, and leaves others to the dial mapping", async (t) => {
  const err = (code: string, message = 'x') => Object.assign(new Error(message), { code })
  t.equal(dispatchError(err('UND_ERR_SOCKET', 'other side closed'), 'o', false)?.code, 'VIADUCT_ERR_TARGET_RESET')
  t.match(dispatchError(err('UND_ERR_SOCKET', 'other side closed'), 'o', true)?.message, /mid-body/)
  t.equal(dispatchError(err('UND_ERR_SOCKET', 'bad response'), 'o', false)?.code, 'VIADUCT_ERR_HTTP_BAD_RESPONSE')
  t.equal(dispatchError(err('UND_ERR_RES_CONTENT_LENGTH_MISMATCH'), 'o', true)?.code, 'VIADUCT_ERR_TARGET_RESET')
  t.equal(dispatchError(err('UND_ERR_BODY_TIMEOUT'), 'o', true)?.code, 'VIADUCT_ERR_SESSION_IDLE')
  t.equal(dispatchError(err('UND_ERR_HEADERS_TIMEOUT'), 'o', false)?.code, 'VIADUCT_ERR_SESSION_IDLE')
  t.equal(dispatchError(err('UND_ERR_HEADERS_OVERFLOW'), 'o', false)?.code, 'VIADUCT_ERR_HTTP_BAD_RESPONSE')
  t.equal(dispatchError(err('ECONNREFUSED'), 'o', false), undefined)
  t.equal(dispatchError(undefined, 'o', false), undefined)
})

t.test('originOf brackets IPv6 hosts', async (t) => {
  t.equal(originOf('127.0.0.1', 8080), 'http://127.0.0.1:8080')
  t.equal(originOf('example.com', 80), 'http://example.com:80')
  t.equal(originOf('::1', 80), 'http://[::1]:80')
})

t.test('noteVersion remembers only versions other than 1.1, forgets on 1.1, and stays bounded', async (t) => {
  const m = new Map<string, string>()
  noteVersion(m, 'a:80', Buffer.from('HTTP/1.1 200 OK\r\n'))
  t.equal(m.size, 0, '1.1 is not stored')
  noteVersion(m, 'a:80', Buffer.from('HTTP/1.0 200 OK\r\n'))
  t.equal(m.get('a:80'), '1.0')
  noteVersion(m, 'a:80', Buffer.from('HTTP/1.1 200 OK\r\n'))
  t.equal(m.has('a:80'), false, 'an origin that now answers 1.1 is forgotten')
  noteVersion(m, 'b:80', Buffer.from('garbage'))
  t.equal(m.size, 0, 'bytes that are not a status line change nothing')
  for (let i = 0; i < MAX_VERSION_ENTRIES + 50; i++) noteVersion(m, `h${i}:80`, Buffer.from('HTTP/1.0 200 OK\r\n'))
  t.equal(m.size, MAX_VERSION_ENTRIES, 'never more than the bound')
  t.equal(m.has('h0:80'), false, 'the oldest went first')
  t.equal(m.get(`h${MAX_VERSION_ENTRIES + 49}:80`), '1.0', 'the newest is kept')
})
