'use strict'
// Runs a PLC directory (in-memory) and the reference PDS in ONE node process, both
// bound to 127.0.0.1, for lairs_etl.localpds.LocalPds (which sets the PDS_* env).
//
// The PLC takes an OS-chosen port; the PDS port comes from PDS_PORT (its public URL
// and DID documents embed it, so it must be known before the PDS is configured).
// When both listen, {"pds_url", "plc_url"} is written to LAIRS_LOCALPDS_READY_FILE
// (stdout/stderr belong to the servers' logs). The process exits when its stdin
// closes, so a parent that dies, even by SIGKILL, never leaks servers; SIGTERM and
// SIGINT stop it too. Exit code 98: the PDS port was taken (the parent retries).

const net = require('node:net')
const fs = require('node:fs')

// Loopback only: both servers call listen(port) without a host, which would bind
// every interface.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    args.splice(1, 0, '127.0.0.1')
  }
  return listen.apply(this, args)
}

const EXIT_PORT_TAKEN = 98
const running = []
let stopping = false

async function stop(code) {
  if (stopping) return
  stopping = true
  setTimeout(() => process.exit(code), 5000).unref()
  for (const server of running.reverse()) {
    try {
      await server.destroy()
    } catch (err) {
      console.error('lairs-localpds: error while stopping', err)
    }
  }
  process.exit(code)
}

async function main() {
  process.stdin.on('end', () => stop(0))
  process.stdin.on('error', () => stop(0))
  process.stdin.resume()
  process.on('SIGTERM', () => stop(0))
  process.on('SIGINT', () => stop(0))

  const { PlcServer, Database } = require('@did-plc/server')
  const plc = PlcServer.create({ db: Database.mock(), port: 0 })
  const plcServer = await plc.start()
  running.push(plc)
  // localhost, not an IP literal: the PDS refuses IP-literal hosts when it resolves DIDs.
  const plcUrl = `http://localhost:${plcServer.address().port}`
  process.env.PDS_DID_PLC_URL = plcUrl

  const { PDS, envToCfg, envToSecrets, readEnv } = require('@atproto/pds')
  const env = readEnv()
  const pds = await PDS.create(envToCfg(env), envToSecrets(env))
  running.push(pds)
  await pds.start()

  const ready = process.env.LAIRS_LOCALPDS_READY_FILE
  const info = JSON.stringify({ pds_url: pds.ctx.cfg.service.publicUrl, plc_url: plcUrl })
  fs.writeFileSync(`${ready}.tmp`, info)
  fs.renameSync(`${ready}.tmp`, ready)
  console.error(`lairs-localpds: ready ${info}`)
}

main().catch((err) => {
  console.error('lairs-localpds: start-up failed', err)
  stop(err && err.code === 'EADDRINUSE' ? EXIT_PORT_TAKEN : 1)
})
