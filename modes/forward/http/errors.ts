/**
 * Codes of the HTTP proxy listener itself (the request the client sent, and what the origin answered).
 * Reaching the target, access and authentication use the shared codes of ../errors.ts.
 */
import { defineErrors } from '../../../src/core/errors.js'

export const HttpErrors = defineErrors({
  VIADUCT_ERR_HTTP_MALFORMED: { message: 'the request is not valid HTTP/1.1', http: 400 },
  VIADUCT_ERR_HTTP_ORIGIN_FORM: { message: 'the request asks the proxy itself for a page; configure it as a proxy instead', http: 400 },
  VIADUCT_ERR_HTTP_SCHEME: { message: 'only http:// targets can be forwarded in absolute form; use CONNECT for https', http: 400 },
  VIADUCT_ERR_HTTP_HEADERS_TOO_LARGE: { message: 'the request head is larger than forward.http.maxHeaderBytes', http: 431 },
  VIADUCT_ERR_HTTP_HEADER_TIMEOUT: { message: 'the client did not send a complete request head in time', http: 408 },
  VIADUCT_ERR_HTTP_BAD_RESPONSE: { message: 'the origin sent a response that is not valid HTTP', http: 502, kind: 'failure' },
})
