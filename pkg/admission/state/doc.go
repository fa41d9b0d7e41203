// Package state keeps what admission decisions need from the cluster in informer caches, so
// a review never calls the API server: the pull secrets of every namespace (only the two
// docker types, stripped to the one data key the kubelet reads, indexed per namespace), the
// service accounts, the namespaces' labels, the nodes' credentials (secrets named by
// --node-credentials, files named by --node-credentials-file), and where the nodes pull
// from (the mirror files read at start and, with CRI-O, OpenShift's mirror sets where they
// are served), as one immutable mirror configuration every decision shares.
package state
