// Package check is `webhook check`: the admission decision run over manifests (and, with
// --cluster, the live cluster's secrets, service accounts and namespaces) for CI pipelines
// and for people debugging a pull failure. It gathers facts, asks the decision core, and
// renders a text or JSON report; exit codes are 0 (nothing denied), 1 (something would be
// denied) and 2 (bad input or usage).
package check
