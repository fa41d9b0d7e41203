// Package openshift holds the few OpenShift API types pullguard reads and writes, as small
// local copies with the upstream JSON names: build.openshift.io/v1 BuildConfig (images and
// their pull and push secrets) and apps.openshift.io/v1 DeploymentConfig (its pod template).
// Fields pullguard does not use are absent on purpose; mutations are JSON patches against
// the raw object, so nothing a user wrote is lost by decoding into these types.
//
// The module proxy serves no usable github.com/openshift/api, hence the copies. Types only:
// no client, no I/O.
package openshift
