// Package contract holds the contract tests between the portal's pasby
// client (services/pasby) and the pasby sandbox simulator
// (services/sandbox/pasbysim). The two were written independently from the
// same documents (upstream-docs/pasby-documents.txt, pasby-flow.txt and the
// pasby section of NOTES.md); the tests drive the real client against the
// real simulator over HTTP, mounted by the sandbox harness, for API v2 and
// v1, and check every field the client decodes against what the documents
// describe.
//
// When a test here fails, its message names the side (client or
// simulator) that the documents say is wrong, and the passage that says so.
//
// The package has no code besides this file: everything is in _test.go
// files.
package contract
