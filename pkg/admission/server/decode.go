package server

import (
	"slices"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	corev1 "k8s.io/api/core/v1"
)

// podFields are the only fields of a Pod that decisions read. Decoding into them instead of
// a whole corev1.Pod halves the cost of a review: the decoder still reads every byte, but
// builds nothing it does not need. Mutations are JSON patches against the raw object, so
// nothing else of the Pod is ever written back.
//
// They are decoded with JSON v2 (the encoding/json/v2 of Go's proposal): it skips unread
// members without reflecting on them, which makes the decode of a review's pod two to three
// times faster than encoding/json's, the largest cost pullguard adds to a review. Names
// match case-sensitively, as the API server's own decoder (sigs.k8s.io/json) matches them.
type podFields struct {
	Metadata struct {
		Name         string `json:"name"`
		GenerateName string `json:"generateName"`
		Namespace    string `json:"namespace"`
		// Only whether the pod has annotations: the patch that records an injection adds
		// the map when there is none, a key when there is.
		Annotations present `json:"annotations"`
	} `json:"metadata"`
	Spec struct {
		ServiceAccountName       string                        `json:"serviceAccountName"`
		DeprecatedServiceAccount string                        `json:"serviceAccount"`
		ImagePullSecrets         []corev1.LocalObjectReference `json:"imagePullSecrets"`
		Containers               []namedImage                  `json:"containers"`
		InitContainers           []namedImage                  `json:"initContainers"`
		EphemeralContainers      []namedImage                  `json:"ephemeralContainers"`
		Volumes                  []struct {
			Name  string `json:"name"`
			Image *struct {
				Reference  string            `json:"reference"`
				PullPolicy corev1.PullPolicy `json:"pullPolicy"`
			} `json:"image"`
		} `json:"volumes"`
	} `json:"spec"`
}

// present records that a field is there and not null, without decoding it.
type present bool

func (p *present) UnmarshalJSON(b []byte) error {
	*p = string(b) != "null"
	return nil
}

type namedImage struct {
	Name            string            `json:"name"`
	Image           string            `json:"image"`
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy"`
}

// containers writes the containers into dst's array, each whole: a corev1.Container is
// large, and growing a slice of them copies every one.
func containers(dst []corev1.Container, in []namedImage) []corev1.Container {
	if len(in) == 0 {
		return nil
	}
	dst = slices.Grow(dst[:0], len(in))
	for _, c := range in {
		dst = append(dst, corev1.Container{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy})
	}
	return dst
}

// podDecoding keeps encoding/json's leniencies that JSON v2 drops by default: the API
// server's objects never need them, but a review must not fail where the v1 decoder would
// have read the pod.
var podDecoding = json.JoinOptions(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// pods are the Pods reviews decode into, with their containers' arrays: 2.5 KB for a pod
// of three containers, which would otherwise be garbage after every review, and the
// collector's work follows the bytes allocated.
var pods = sync.Pool{New: func() any { return new(corev1.Pod) }}

// maxPooledContainers keeps a pod of unusual size from holding its arrays in the pool.
const maxPooledContainers = 16

// decodePod reads the fields decisions need from a raw Pod. The review hands it back with
// releasePod once nothing reads it any more.
func decodePod(raw []byte) (*corev1.Pod, error) {
	var f podFields
	if err := json.Unmarshal(raw, &f, podDecoding); err != nil {
		return nil, err
	}
	pod := pods.Get().(*corev1.Pod)
	reuse, reuseInit := pod.Spec.Containers, pod.Spec.InitContainers
	*pod = corev1.Pod{}
	pod.Name, pod.GenerateName, pod.Namespace = f.Metadata.Name, f.Metadata.GenerateName, f.Metadata.Namespace
	if f.Metadata.Annotations {
		pod.Annotations = map[string]string{}
	}
	s := &pod.Spec
	s.ServiceAccountName, s.DeprecatedServiceAccount, s.ImagePullSecrets = f.Spec.ServiceAccountName, f.Spec.DeprecatedServiceAccount, f.Spec.ImagePullSecrets
	s.Containers = containers(reuse, f.Spec.Containers)
	s.InitContainers = containers(reuseInit, f.Spec.InitContainers)
	if n := len(f.Spec.EphemeralContainers); n > 0 {
		s.EphemeralContainers = make([]corev1.EphemeralContainer, n)
		for i, c := range f.Spec.EphemeralContainers {
			s.EphemeralContainers[i].EphemeralContainerCommon = corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}
		}
	}
	for _, v := range f.Spec.Volumes {
		if v.Image != nil {
			s.Volumes = append(s.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: v.Image.Reference, PullPolicy: v.Image.PullPolicy}}})
		}
	}
	return pod, nil
}

// releasePod hands a decoded Pod back for the next review.
func releasePod(pod *corev1.Pod) {
	if cap(pod.Spec.Containers) > maxPooledContainers || cap(pod.Spec.InitContainers) > maxPooledContainers {
		return
	}
	pods.Put(pod)
}
