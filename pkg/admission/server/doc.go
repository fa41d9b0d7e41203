// Package server is `webhook serve`: the HTTPS admission endpoints (/mutate for Pods and
// BuildConfigs, /validate for workloads) on controller-runtime's webhook server, fed by the
// informer caches of package state, with Prometheus metrics on their own registry and
// health and readiness probes. Handlers follow one path: decode, gather facts from caches,
// ask the pure decision core, respond with a patch, warnings or a denial.
package server
