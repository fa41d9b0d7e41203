package registryauth

import (
	"errors"
	"strings"

	"github.com/distribution/reference"
)

// Relocate returns the image as pulled from location (host[:port][/path]) instead of its
// registry: the location's path, then the image's repository, with the same tag and digest.
// Nothing is normalized, since containerd sends the request to the host as written: a
// mirror host "mirror" stays a host, where ParseImage would read it as a Docker Hub
// namespace.
func (img Image) Relocate(location string) (Image, error) {
	host, prefix, _ := strings.Cut(location, "/")
	if host == "" {
		return Image{}, &ReferenceError{Image: location, Err: errors.New("no registry host")}
	}
	repository := img.Repository
	if prefix != "" {
		repository = prefix + "/" + repository
	}
	name := host + "/" + repository
	if _, err := reference.WithName(name); err != nil {
		return Image{}, &ReferenceError{Image: name, Err: err}
	}
	out := Image{Name: name, Registry: host, Repository: repository, Tag: img.Tag, Digest: img.Digest}
	out.Ref = out.FullReference()
	if !out.prepare() {
		return Image{}, &ReferenceError{Image: name, Err: reference.ErrReferenceInvalidFormat}
	}
	return out, nil
}
