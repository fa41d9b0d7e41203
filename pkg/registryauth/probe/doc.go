// Package probe asks registries whether an image's manifest can be pulled with a
// credential (or anonymously), with go-containerregistry: ping, bearer token or basic auth,
// then HEAD of the manifest (GET where HEAD is not allowed). Answers are classified into
// registryauth verdicts and cached per (repository, reference, credential fingerprint),
// identical concurrent probes are merged, and each registry gets a bounded number of
// probes at a time. It honours HTTPS_PROXY/NO_PROXY and extra CA bundles.
//
// This is the network half of pkg/registryauth; the pure half never imports it. Nothing
// here logs, returns or records a credential.
package probe
