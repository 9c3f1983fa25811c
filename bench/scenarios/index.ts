/** Every benchmark scenario, in the order `viaduct bench` runs them: each mode's own, then the contrast. */
import type { Scenario } from '../types.js'
import { scenarios as http } from './http.js'
import { scenarios as socks } from './socks.js'
import { scenarios as pairing } from './pairing.js'
import { scenarios as turn } from './turn.js'
import { scenarios as contrast } from './contrast.js'
import { scenarios as contrastDatagrams } from './contrast-datagrams.js'

export const scenarios: Scenario[] = [...http, ...socks, ...pairing, ...turn, ...contrast, ...contrastDatagrams]
