// Package decision is pullguard's pure decision core. Given an object (a Pod, a BuildConfig,
// or a workload's pod template) and Facts describing its namespace (pull secrets, service
// accounts, node credentials, registry hints, where the runtime's mirrors send pulls), it
// returns a Decision: per image an Outcome, the candidate secrets in the kubelet's order, the
// secret to inject, a message and, for a mirrored image, the endpoints the runtime tries
// (mirror.go); for the object, the JSON patch that injects.
//
// It must not import a Kubernetes client, net/http, the registry transport
// (pkg/registryauth/probe) or anything that does I/O; depcheck_test.go enforces it. The
// admission handlers and `webhook check` gather facts and render responses around it.
package decision
