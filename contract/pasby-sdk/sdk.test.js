// Contract test: pasby's own TypeScript SDK (@finsel-dgi/pasby, pinned in
// package.json) against our pasby simulator, over real HTTP.
//
// The simulator is written from pasby's documents, so where the SDK and the
// documents disagree the simulator follows the documents and this script
// asserts the documented answer, not what the SDK hoped for (see "where the
// SDK and the documents disagree" below, and the package doc of
// services/sandbox/pasbysim).
//
// Environment (the names cmd/sandbox prints and uses):
//   PASBY_BASE_URL        the simulator's root, e.g. http://127.0.0.1:9090/sandbox/pasby
//   PASBY_API_KEY         x-api-key (bk-test_…)
//   PASBY_APP_SECRET      x-access-secret (snb_…)
//   SANDBOX_CONTROL_URL   the sandbox control API, e.g. http://127.0.0.1:9090/_control
//   SANDBOX_CONTROL_TOKEN its bearer token, if it has one
//   PASBY_WEBHOOK_URL     webhook.host of the documents created (pasby requires one;
//                         this script does not look at deliveries)
//
// Run: npm ci && node --test-reporter=spec sdk.test.js (the Go test
// cmd/sandbox/sdk_test.go does both, against the sandbox server).
'use strict';

const assert = require('node:assert/strict');
const { describe, it, before } = require('node:test');
const { Pasby } = require('@finsel-dgi/pasby');

function need(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set (see the top of sdk.test.js)`);
  }
  return v;
}

// The SDK appends /api/… to basePath as a string, so a trailing slash would
// make a path the simulator does not have.
const basePath = need('PASBY_BASE_URL').replace(/\/+$/, '');
const apikeyAuth = need('PASBY_API_KEY');
const appSecretKey = need('PASBY_APP_SECRET');
const controlURL = need('SANDBOX_CONTROL_URL').replace(/\/+$/, '');
const controlToken = process.env.SANDBOX_CONTROL_TOKEN || '';
const webhookURL = process.env.PASBY_WEBHOOK_URL || 'https://portal.example/webhooks/pasby/sdk-contract';

const nin = '12345678901';

// A hang must fail the test, not wait for the Go test's deadline.
const baseOptions = { timeout: 10_000 };

// v2 is the SDK's default; version 'v1' is outside its TypeScript types
// (versions = 'v2') but the only way it reaches the v1 authorize.
const v2 = new Pasby({ apikeyAuth, appSecretKey, basePath, baseOptions });
const v1 = new Pasby({ apikeyAuth, appSecretKey, basePath, baseOptions, version: 'v1' });

let seq = 0;
function signingRequest(title) {
  seq += 1;
  return {
    to: [nin],
    file: { url: 'https://files.example.com/contracts/sdk-contract.pdf', title },
    webhook: { host: webhookURL, reference: `sdk-contract-${process.pid}-${seq}` },
  };
}

// create signs up a document with docs.docSign and checks the documented
// 201 answer (pasby-documents.txt, POST /api/v2/document/signing).
async function create(client, title) {
  const req = signingRequest(title);
  const res = await client.docs.docSign(req);
  assert.equal(res.status, 201);
  assert.equal(res.data.status, 'successful');
  assert.equal(res.data.reason, 'Signature request propagated');
  assert.equal(res.data.version, 'v2');
  const doc = res.data.data.request;
  assert.match(doc.id, /^doc_/);
  assert.deepEqual(doc.to, req.to);
  assert.equal(doc.handled, false);
  assert.deepEqual(doc.hook, req.webhook);
  assert.deepEqual(doc.file, { source: req.file.url, name: req.file.title });
  return doc.id;
}

// ping returns data.request of a successful flows.ping.
async function ping(client, id, options) {
  const res = await client.flows.ping({ request: id }, options);
  assert.equal(res.status, 200);
  assert.equal(res.data.status, 'successful');
  return res;
}

// failure runs call, which must fail with HTTP status; it returns the
// SDK's PasbyError (status, responseBody).
async function failure(call, status) {
  let err;
  try {
    const res = await call();
    assert.fail(`expected HTTP ${status}, got ${res.status}: ${JSON.stringify(res.data)}`);
  } catch (e) {
    err = e;
  }
  if (err instanceof assert.AssertionError) {
    throw err;
  }
  assert.equal(err.name, 'PasbyError', `not a PasbyError: ${err.stack}`);
  assert.equal(err.status, status, `HTTP ${err.status}: ${JSON.stringify(err.responseBody)}`);
  return err;
}

// sign signs document id as nin through the sandbox control API, as the
// sandbox page's "Sign as signee" does.
async function sign(id) {
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (controlToken) {
    headers.Authorization = `Bearer ${controlToken}`;
  }
  const res = await fetch(`${controlURL}/actions`, {
    method: 'POST',
    headers,
    body: new URLSearchParams({ sim: 'pasby', action: 'sign', document_id: id, nin }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `control sign: HTTP ${res.status}: ${text}`);
}

describe('health', () => {
  it('health.healthCheck answers 200', async () => {
    const res = await v2.health.healthCheck();
    assert.equal(res.status, 200);
  });
});

describe('sign a document', () => {
  let id;
  before(async () => {
    id = await create(v2, 'SDK contract: signed');
  });

  it('flows.ping shows it waiting', async () => {
    const res = await ping(v2, id);
    assert.equal(res.data.version, 'v2');
    const flow = res.data.data.request;
    assert.equal(flow.cancelled, false);
    assert.ok(!flow.signature, 'no signature before anyone signed');
    assert.equal(flow.handled, false);
  });

  it('flows.ping shows it signed once the signee signs', async () => {
    await sign(id);
    const flow = (await ping(v2, id)).data.data.request;
    // pasby-flow.txt: terminal when cancelled or data.request.signature is truthy.
    assert.ok(flow.signature, 'signature present');
    assert.equal(flow.cancelled, false);
    assert.equal(flow.handled, true);
    assert.equal(typeof flow.signedAt, 'number');
    assert.deepEqual(flow.statusLog.map((s) => s.status), ['signed']);
  });
});

describe('cancel a document', () => {
  let id;
  before(async () => {
    id = await create(v2, 'SDK contract: cancelled');
  });

  it('flows.cancel answers 201 with data.model', async () => {
    const res = await v2.flows.cancel({ request: id });
    assert.equal(res.status, 201);
    assert.equal(res.data.status, 'successful');
    assert.equal(res.data.data.model.id, id);
  });

  it('flows.ping shows it cancelled', async () => {
    const flow = (await ping(v2, id)).data.data.request;
    assert.equal(flow.cancelled, true);
    assert.ok(!flow.signature);
  });

  it('a second flows.cancel is refused with 400', async () => {
    await failure(() => v2.flows.cancel({ request: id }), 400);
  });
});

describe('v1 authorize', () => {
  let token;
  let id;
  before(async () => {
    id = await create(v2, 'SDK contract: v1');
  });

  it('flows.authorize (version v1) answers data.token', async () => {
    // GET /api/v1/flow/authorize with x-api-key and x-access-secret, as in
    // the document's curl example.
    const res = await v1.flows.authorize({ sub: 'sdk-contract-consumer', app: 'sdk-contract-app' });
    assert.equal(res.status, 200);
    assert.equal(res.data.status, 'successful');
    assert.equal(res.data.version, 'v1');
    token = res.data.data.token;
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a JWT');
  });

  it('the token works as x-access-token on v1 flows.ping, added by hand', async () => {
    // The SDK never sends x-access-token itself; a v1 caller must add it.
    const res = await ping(v1, id, { headers: { 'x-access-token': token } });
    assert.equal(res.data.version, 'v1');
    assert.equal(res.data.data.request.id, id);
  });
});

describe('where the SDK and the documents disagree (the documents win)', () => {
  let id;
  before(async () => {
    id = await create(v2, 'SDK contract: disagreements');
  });

  it('v2 flows.authorize: /api/v2/flow/authorize does not exist (v1 only), 404', async () => {
    await failure(() => v2.flows.authorize({ sub: 'sdk-contract-consumer', app: 'sdk-contract-app' }), 404);
  });

  it('v1 flows.ping sends x-access-secret where the document wants x-access-token, 401', async () => {
    const err = await failure(() => v1.flows.ping({ request: id }), 401);
    assert.equal(err.responseBody.status, 'unauthorized');
    assert.match(err.responseBody.reason, /x-access-token/);
  });

  it('v1 flows.cancel likewise, 401', async () => {
    await failure(() => v1.flows.cancel({ request: id }), 401);
  });

  it('v1 docs.docSign likewise, 401', async () => {
    const err = await failure(() => v1.docs.docSign(signingRequest('SDK contract: v1 sign')), 401);
    assert.match(err.responseBody.reason, /x-access-token/);
  });

  it('v2 flows.longPolling sends x-access-secret; the document wants x-access-token even on v2, 401', async () => {
    const err = await failure(() => v2.flows.longPolling({ request: id }), 401);
    assert.match(err.responseBody.reason, /x-access-token/);
  });
});
