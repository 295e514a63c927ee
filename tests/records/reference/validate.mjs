// Reference verdicts for the differential test: @atproto/lexicon's
// Lexicons.assertValidRecord over a whole batch in one process.
//
// usage: node validate.mjs <node_modules dir> <lexicon dir> [--bench=SECONDS] < records.jsonl
// Each stdin line is one record (JSON); each stdout line is
// {"valid": true|false, "error": "<message>"|null}, in input order.
// With --bench, the batch is instead validated repeatedly for about SECONDS of CPU time
// (after a warm-up pass) and one line {"records": n, "cpuSeconds": s} is printed.
// Records go through jsonToLex first, as the PDS does with an XRPC body, so
// {"$link"}, {"$bytes"} and blob objects become CIDs, bytes and BlobRefs.
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const [nodeModules, lexiconDir, benchArg] = process.argv.slice(2)
if (!nodeModules || !lexiconDir) {
  process.stderr.write('usage: validate.mjs <node_modules> <lexicon dir>\n')
  process.exit(2)
}

function entryPoint(name) {
  const dir = join(nodeModules, name)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const target = pkg.exports?.['.']?.default ?? pkg.main ?? 'index.js'
  return pathToFileURL(join(dir, target)).href
}

function* lexiconFiles(dir) {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* lexiconFiles(path)
    else if (name.endsWith('.json')) yield path
  }
}

const { Lexicons, jsonToLex } = await import(entryPoint('@atproto/lexicon'))
const lexicons = new Lexicons()
for (const path of lexiconFiles(lexiconDir)) {
  lexicons.add(JSON.parse(readFileSync(path, 'utf8')))
}

function verdict(line) {
  try {
    const record = jsonToLex(JSON.parse(line))
    const type = record && typeof record === 'object' ? record.$type : undefined
    lexicons.assertValidRecord(typeof type === 'string' ? type : 'invalid.missing.type', record)
    return { valid: true, error: null }
  } catch (err) {
    return { valid: false, error: `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}` }
  }
}

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
if (benchArg?.startsWith('--bench=')) {
  const budget = Number(benchArg.slice('--bench='.length))
  const records = []
  for await (const line of rl) if (line.trim() !== '') records.push(JSON.parse(line))
  const check = (record) => {
    try {
      lexicons.assertValidRecord(record.$type, jsonToLex(record))
    } catch {}
  }
  records.forEach(check)
  const cpu = () => {
    const { user, system } = process.cpuUsage()
    return (user + system) / 1e6
  }
  let done = 0
  const start = cpu()
  while (cpu() - start < budget) {
    records.forEach(check)
    done += records.length
  }
  process.stdout.write(JSON.stringify({ records: done, cpuSeconds: cpu() - start }) + '\n')
} else {
  const out = []
  for await (const line of rl) {
    if (line.trim() === '') continue
    out.push(JSON.stringify(verdict(line)))
    if (out.length >= 512) {
      process.stdout.write(out.join('\n') + '\n')
      out.length = 0
    }
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n')
}
