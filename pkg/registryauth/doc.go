// Package registryauth is the ground floor of pullguard: docker config parsing, image
// references and the kubelet's credential matching rules, reimplemented so that a lookup
// here agrees with what kubelet v1.37 does with the same image and pull secrets.
//
// It is pure: no Kubernetes client, no net/http, no registry transport (depcheck_test.go
// enforces it). Registry probing lives in its own package, pkg/registryauth/probe, so that
// importing the matching rules never drags in the network.
package registryauth
