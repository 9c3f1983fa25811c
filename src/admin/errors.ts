/** The admin server's error codes (docs/errors.md, section "Admin server"). */
import { defineErrors } from '../core/errors.js'

export const AdminErrors = defineErrors({
  VIADUCT_ERR_ADMIN_EXPOSED: { message: 'the admin server would listen on a non-loopback address without admin.token' },
  VIADUCT_ERR_ADMIN_UNAUTHORIZED: { message: 'the admin API needs a valid Bearer token', http: 401 },
  VIADUCT_ERR_ADMIN_HOST: { message: 'the Host header is not a loopback name (DNS rebinding guard)', http: 403 },
  VIADUCT_ERR_ADMIN_BAD_REQUEST: { message: 'a query parameter of the admin API is invalid', http: 400 },
  VIADUCT_ERR_ADMIN_NOT_FOUND: { message: 'no such admin endpoint or session', http: 404 },
})
