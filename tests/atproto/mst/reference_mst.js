// Computes MST roots with the reference TypeScript implementation (@atproto/repo).
// stdin: JSON list of cases, each a list of ops ["put", key, cid] | ["del", key];
// stdout: JSON list of root CID strings, one per case, after all its ops.
const { MST, MemoryBlockstore } = require('@atproto/repo')
const { parseCid } = require('@atproto/lex-data')

let input = ''
process.stdin.on('data', (d) => (input += d))
process.stdin.on('end', async () => {
  const roots = []
  for (const ops of JSON.parse(input)) {
    let mst = await MST.create(new MemoryBlockstore())
    for (const [op, key, cid] of ops) {
      mst = op === 'put' ? await mst.add(key, parseCid(cid)) : await mst.delete(key)
    }
    roots.push((await mst.getPointer()).toString())
  }
  process.stdout.write(JSON.stringify(roots))
})
