// The page of the real-browser test: the official @dfns/sdk client with the official
// @dfns/sdk-browser WebAuthnSigner, exactly as an application would wire them.
// The test calls window.archiveUser(...) and reads what it resolves to.
import { DfnsApiClient, DfnsError } from '@dfns/sdk'
import { WebAuthnSigner } from '@dfns/sdk-browser'

window.archiveUser = async ({ baseUrl, authToken, appId, userId }) => {
  const signer = new WebAuthnSigner({ relyingParty: { id: 'localhost', name: 'archive-core' } })
  const client = new DfnsApiClient({ baseUrl, authToken, appId, signer })
  try {
    const user = await client.auth.archiveUser({ userId })
    return { ok: true, user }
  } catch (error) {
    return {
      ok: false,
      status: error instanceof DfnsError ? error.httpStatus : null,
      message: String(error && error.message),
      name: String(error && error.name),
    }
  }
}
window.pageReady = true
