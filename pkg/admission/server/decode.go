package server

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
)

// podFields are the only fields of a Pod that decisions read. Decoding into them instead of
// a whole corev1.Pod halves the cost of a review: the decoder still reads every byte, but
// builds nothing it does not need. Mutations are JSON patches against the raw object, so
// nothing else of the Pod is ever written back.
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

func (c namedImage) container() corev1.Container {
	return corev1.Container{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}
}

// decodePod reads the fields decisions need from a raw Pod.
func decodePod(raw []byte) (*corev1.Pod, error) {
	var f podFields
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	pod := &corev1.Pod{}
	pod.Name, pod.GenerateName, pod.Namespace = f.Metadata.Name, f.Metadata.GenerateName, f.Metadata.Namespace
	if f.Metadata.Annotations {
		pod.Annotations = map[string]string{}
	}
	s := &pod.Spec
	s.ServiceAccountName, s.DeprecatedServiceAccount, s.ImagePullSecrets = f.Spec.ServiceAccountName, f.Spec.DeprecatedServiceAccount, f.Spec.ImagePullSecrets
	for _, c := range f.Spec.Containers {
		s.Containers = append(s.Containers, c.container())
	}
	for _, c := range f.Spec.InitContainers {
		s.InitContainers = append(s.InitContainers, c.container())
	}
	for _, c := range f.Spec.EphemeralContainers {
		s.EphemeralContainers = append(s.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}})
	}
	for _, v := range f.Spec.Volumes {
		vol := corev1.Volume{Name: v.Name}
		if v.Image != nil {
			vol.Image = &corev1.ImageVolumeSource{Reference: v.Image.Reference, PullPolicy: v.Image.PullPolicy}
		}
		s.Volumes = append(s.Volumes, vol)
	}
	return pod, nil
}
