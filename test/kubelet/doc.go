// Package kubelet holds no code: its tests compare pullguard's credential matching and pod
// decisions with the kubelet's own (k8s.io/kubernetes pkg/credentialprovider and
// pkg/credentialprovider/secrets at the pinned release).
package kubelet
