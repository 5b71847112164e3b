// The rest of the Dfns user family through the official TypeScript client (@dfns/sdk)
// and key signer (@dfns/sdk-keysigner), against `archive-core serve`: create users, walk
// every page of the list, update one, archive a listed one. Reads its inputs as JSON
// from argv[2] ({baseUrl, authToken, credId, privateKeyPem, adminId}) and prints one JSON
// line of what it saw; any failure exits non-zero with the error on stderr.
import { DfnsApiClient, DfnsError } from '@dfns/sdk'
import { AsymmetricKeySigner } from '@dfns/sdk-keysigner'

const input = JSON.parse(process.argv[2])
const signer = new AsymmetricKeySigner({ credId: input.credId, privateKey: input.privateKeyPem })
const client = new DfnsApiClient({ baseUrl: input.baseUrl, authToken: input.authToken, signer })

async function walk(query) {
  const ids = []
  let paginationToken
  for (;;) {
    const page = await client.auth.listUsers({ query: { ...query, paginationToken } })
    ids.push(...page.items.map((user) => user.userId))
    paginationToken = page.nextPageToken
    if (!paginationToken) return ids
  }
}

async function refusal(call) {
  try {
    await call()
  } catch (error) {
    if (error instanceof DfnsError) return { status: error.httpStatus, message: error.message }
    throw error
  }
  return null
}

const created = []
for (let n = 0; n < 5; n++) {
  created.push(
    await client.auth.createUser({
      body: { email: `node${n}@example.com`, kind: n % 2 ? 'EndUser' : 'CustomerEmployee', externalId: `node-${n}` },
    })
  )
}
const again = await client.auth.createUser({
  body: { email: 'node0@example.com', kind: 'CustomerEmployee', externalId: 'node-0' },
})
const taken = await refusal(() =>
  client.auth.createUser({ body: { email: 'NODE1@example.com', kind: 'EndUser' } })
)
const listed = await walk({ limit: 2 })
const endUsers = await walk({ limit: 1, kind: ['EndUser'] })
const both = await walk({ limit: 3, kind: ['EndUser', 'CustomerEmployee'] })
const updated = await client.auth.updateUser({ userId: created[2].userId, body: { isSSORequired: true } })
const target = [...listed].reverse().find((id) => id !== input.adminId)
const archived = await client.auth.archiveUser({ userId: target })
const remaining = await walk({ limit: 2 })

console.log(
  JSON.stringify({
    created: created.map((user) => ({ userId: user.userId, kind: user.kind, isActive: user.isActive, isRegistered: user.isRegistered })),
    againUserId: again.userId,
    taken,
    listed,
    endUsers,
    both,
    updated: { userId: updated.userId, isSSORequired: updated.isSSORequired },
    archived: { userId: archived.userId, isActive: archived.isActive },
    remaining,
  })
)
