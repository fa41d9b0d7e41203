// Package manifest reads Kubernetes manifests (multi-document YAML or JSON, kind: List) from
// files, directories and standard input into the typed objects pullguard decides and the
// facts it decides with: Pods, BuildConfigs, workloads, Secrets, ServiceAccounts and
// Namespaces. Other kinds are skipped. A malformed document is an error naming the file,
// the document and the reason.
package manifest
