// PLACEHOLDER: the socks benchmark scenarios.
import type { Scenario } from '../types.js'

export const scenarios: Scenario[] = []
