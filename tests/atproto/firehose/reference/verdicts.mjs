// Reference verdicts for the firehose verification tests: the official
// @atproto/sync Firehose, with verification on, consuming a recorded stream.
//
// usage: node verdicts.mjs <node_modules dir> <service ws url> <plc url> <frame count>
//
// The service is a loopback server replaying recorded subscribeRepos frames: it
// sends frames[cursor:] and closes the connection with code 1000. Each stdout line
// is one frame's verdict, in stream order:
//   {"index": i, "seq": N|null, "type": "#commit"|...|null,
//    "verdict": "accept"|"reject"|"ignored", "reason": "..."}
// and a last line {"done": true, "frames": n, "connections": k, "cursors": [...]}.
//
// Every frame ends in exactly one of three places in @atproto/sync 0.4.11, which is
// how frames are counted without seeing them:
//   1. Frame.fromBytes / an error frame throws inside the Subscription iterator:
//      onError(FirehoseSubscriptionError), then Firehose.start() reconnects after
//      `subscriptionReconnectDelay` (0 here) with getCursor() = frames counted so far,
//      so the replay server resumes after the bad frame.
//   2. the subscribeRepos lexicon rejects the body: onError(FirehoseValidationError)
//      and the frame never reaches processEvt.
//   3. otherwise Firehose.processEvt(evt) runs (sequentially: no runner), calling
//      handleEvent once per emitted event and onError(FirehoseParseError) when
//      parsing/authentication throws.
// The only change to the Firehose is a processEvt override that brackets case 3,
// so handleEvent/onError calls can be attributed to their frame.
//
// Verdicts:
//   #commit: reject on a FirehoseParseError (bad CAR, wrong CID for bytes, repo did
//     mismatch, bad signature, missing blocks...) or when any op of the frame is not
//     emitted (parseCommitAuthenticated silently drops ops whose claim verifyProofs
//     does not prove, and formatCommitOps drops create/update ops whose record block
//     is absent); accept when every op is emitted; ignored when the commit has no ops
//     (the Firehose returns [] before any verification).
//   #sync / #identity / #account: accept when the event is emitted, reject on a
//     FirehoseParseError, ignored when nothing is emitted (#account with an unknown
//     status).
//   #info (or any other valid type): ignored.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const [nodeModules, service, plcUrl, totalArg] = process.argv.slice(2)
const total = Number(totalArg)
if (!nodeModules || !service || !plcUrl || !Number.isInteger(total) || total < 0) {
  process.stderr.write('usage: verdicts.mjs <node_modules> <service ws url> <plc url> <frame count>\n')
  process.exit(2)
}

function entryPoint(name) {
  const dir = join(nodeModules, name)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const target = pkg.exports?.['.']?.default ?? pkg.main ?? 'index.js'
  return pathToFileURL(join(dir, target)).href
}

const {
  Firehose,
  FirehoseHandlerError,
  FirehoseParseError,
  FirehoseSubscriptionError,
  FirehoseValidationError,
} = await import(entryPoint('@atproto/sync'))
const { IdResolver } = await import(entryPoint('@atproto/identity'))

let index = 0 // frames given a verdict so far (= the cursor for a reconnection)
let current = null // the frame inside processEvt: { evt, emitted: [], errors: [] }
const cursors = []
const streamErrors = []

function describe(err) {
  if (err === undefined || err === null) return String(err)
  const name = err.name ?? err.constructor?.name ?? 'Error'
  const message = err.message ?? String(err)
  // an XRPCError (error frame) keeps the frame's error name apart from its message
  const code = typeof err.error === 'string' ? ` [${err.error}]` : ''
  return `${name}: ${message}${code}`
}

function shortType(value) {
  const t = value?.$type
  if (typeof t !== 'string') return null
  const hash = t.indexOf('#')
  return hash === -1 ? t : t.slice(hash)
}

function emit(seq, type, verdict, reason) {
  const line = { index, seq: Number.isInteger(seq) ? seq : null, type, verdict, reason }
  index += 1
  process.stdout.write(JSON.stringify(line) + '\n')
}

function verdictFor({ evt, emitted, errors }) {
  const type = shortType(evt)
  if (errors.length) {
    return ['reject', errors.map((err) => describe(err.cause ?? err)).join('; ')]
  }
  if (type === '#commit') {
    if (evt.ops.length === 0) {
      return ['ignored', 'commit has no ops: @atproto/sync neither verifies nor emits it']
    }
    const expected = evt.ops.map((op) => `${op.action} ${op.path}`)
    const got = emitted.map((e) => `${e.event} ${e.collection}/${e.rkey}`)
    const missing = [...expected]
    for (const key of got) {
      const at = missing.indexOf(key)
      if (at !== -1) missing.splice(at, 1)
    }
    if (missing.length === 0 && got.length === expected.length) {
      return ['accept', `signature and proofs verified: ${got.join(', ')}`]
    }
    return ['reject', `ops not emitted (claim not proven or record block absent): ${missing.join(', ')}`]
  }
  if (type === '#sync' || type === '#identity' || type === '#account') {
    if (emitted.length === 1) return ['accept', `${emitted[0].event} event emitted`]
    if (emitted.length === 0) return ['ignored', `no event emitted for ${type}`]
    return ['reject', `${emitted.length} events emitted for one ${type}`]
  }
  return ['ignored', `the Firehose emits nothing for ${type}`]
}

// The default fetch of @atproto/identity refuses http: and IP hosts (SSRF guard), so a
// loopback PLC needs a fetch of its own; this one reaches loopback and nothing else.
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]'])
function loopbackFetch(input, init) {
  const url = new URL(input instanceof Request ? input.url : String(input))
  if (!LOOPBACK.has(url.hostname)) {
    return Promise.reject(new Error(`refusing a non-loopback fetch: ${url.href}`))
  }
  return globalThis.fetch(input, init)
}

class OracleFirehose extends Firehose {
  async processEvt(evt) {
    current = { evt, emitted: [], errors: [] }
    try {
      await super.processEvt(evt)
    } finally {
      const frame = current
      current = null
      const [verdict, reason] = verdictFor(frame)
      emit(frame.evt.seq, shortType(frame.evt), verdict, reason)
    }
  }
}

const firehose = new OracleFirehose({
  service,
  idResolver: new IdResolver({ plcUrl, fetch: loopbackFetch }),
  unauthenticatedCommits: false, // verifyProofs: signature + MST proofs of every op
  unauthenticatedHandles: true, // handle checks would leave loopback (DNS, https)
  subscriptionReconnectDelay: 0,
  getCursor: async () => {
    cursors.push(index)
    return index
  },
  handleEvent: async (event) => {
    if (!current) throw new Error(`event outside a frame: ${event.event}`)
    current.emitted.push(event)
  },
  onError: (err) => {
    if (err instanceof FirehoseValidationError) {
      const value = err.value
      emit(value?.seq, shortType(value), 'reject', `lexicon validation: ${describe(err.cause)}`)
    } else if (err instanceof FirehoseParseError || err instanceof FirehoseHandlerError) {
      if (!current) {
        streamErrors.push(`outside a frame: ${describe(err)} (${describe(err.cause)})`)
      } else {
        current.errors.push(err)
      }
    } else if (err instanceof FirehoseSubscriptionError && index < total) {
      // the frame at `index` broke the stream (undecodable frame, error frame...)
      emit(null, null, 'reject', `frame: ${describe(err.cause)}`)
    } else {
      // past the last frame: nothing left to judge, stop instead of reconnecting
      streamErrors.push(`${describe(err)} (${describe(err.cause)})`)
      firehose.destroy()
    }
  },
})

await firehose.start()

for (const message of streamErrors) process.stderr.write(`stream error: ${message}\n`)
const summary = { done: true, frames: index, connections: cursors.length, cursors }
process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(index === total ? 0 : 3))
