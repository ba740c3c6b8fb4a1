// Package contract holds the contract tests between the portal's upstream
// clients and their sandbox simulators: pasby (services/pasby,
// services/sandbox/pasbysim; API v2 and v1), pawaPass (services/pawapass,
// services/sandbox/pawapasssim) and PassportReader
// (services/passportreader, services/sandbox/passportreadersim). Each pair
// was written independently from the same documents (upstream-docs and
// NOTES.md, with their examples copied to testdata/upstream/<provider>);
// the tests feed the documents' examples to the client, check that the
// simulator answers with the same keys and types, and drive the real client
// against the real simulator over HTTP, mounted by the sandbox harness.
//
// When a test here fails, its message names the side (client or
// simulator) that the documents say is wrong, and the passage that says so.
//
// The package has no code besides this file: everything is in _test.go
// files.
package contract
