// Package state keeps what admission decisions need from the cluster in informer caches, so
// a review never calls the API server: the pull secrets of every namespace (only the two
// docker types, stripped to the one data key the kubelet reads, indexed per namespace), the
// service accounts, the namespaces' labels, and the nodes' credentials (secrets named by
// --node-credentials, files named by --node-credentials-file).
package state
