package registryauth

import (
	"strings"

	"github.com/distribution/reference"
)

// Image is an image reference as the kubelet resolves it for credentials.
type Image struct {
	// Ref is the reference as written ("nginx:1.27").
	Ref string
	// Name is the normalized name without tag or digest ("docker.io/library/nginx"); the
	// kubelet looks credentials up by it.
	Name string
	// Registry is the registry host, with port ("docker.io", "reg.example.com:5000").
	Registry string
	// Repository is the path within the registry ("library/nginx").
	Repository string
	// Tag and Digest are the reference's tag ("latest" when neither is given) and digest.
	Tag    string
	Digest string

	hostname string
	port     string
	labels   int
	path     string
}

// ParseImage normalizes an image reference with distribution/reference, the parser the
// kubelet uses, and prepares it for matching. Parsed references are memoized: a cluster
// pulls the same images over and over, and the reference grammar's regular expressions are
// the most expensive part of a decision.
func ParseImage(ref string) (Image, error) {
	if img, ok := images.Get(ref); ok {
		return img, nil
	}
	img, err := parseImage(ref)
	if err == nil {
		images.Put(ref, img, imageMemoSize)
	}
	return img, err
}

func parseImage(ref string) (Image, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return Image{}, &ReferenceError{Image: ref, Err: err}
	}
	img := Image{
		Ref:        ref,
		Name:       named.Name(),
		Registry:   reference.Domain(named),
		Repository: reference.Path(named),
	}
	if t, ok := named.(reference.Tagged); ok {
		img.Tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		img.Digest = d.Digest().String()
	}
	if img.Tag == "" && img.Digest == "" {
		img.Tag = "latest"
	}
	if !img.prepare() {
		// Names from the reference grammar always parse; be safe anyway.
		return Image{}, &ReferenceError{Image: ref, Err: reference.ErrReferenceInvalidFormat}
	}
	return img, nil
}

// prepare derives from the image's Name what matching reads (hostname, port, label count,
// path); false when the name does not split into a host and a path.
func (img *Image) prepare() bool {
	host, path, ok := parseSchemeless(img.Name)
	if !ok {
		return false
	}
	img.hostname, img.port = splitHostPort(host)
	img.labels = strings.Count(img.hostname, ".") + 1
	img.path = path
	return true
}

// Reference is the tag or digest to ask the registry for: the digest when there is one.
func (img Image) Reference() string {
	if img.Digest != "" {
		return img.Digest
	}
	return img.Tag
}

// FullReference is the name with the tag and digest that are present
// ("docker.io/library/nginx:latest"), as containers/image writes a reference.
func (img Image) FullReference() string {
	s := img.Name
	if img.Tag != "" {
		s += ":" + img.Tag
	}
	if img.Digest != "" {
		s += "@" + img.Digest
	}
	return s
}

// OnDockerHub reports whether the kubelet treats the image as Docker Hub's for the
// index.docker.io fallback: its isDefaultRegistryMatch on the normalized name, which looks
// only for a '.' or ':' in the first component. "localhost/x" is not special there: the
// kubelet offers Docker Hub's credentials for it too.
func (img Image) OnDockerHub() bool {
	first, _, found := strings.Cut(img.Name, "/")
	if first == "" {
		return false
	}
	if !found || first == "docker.io" || first == "index.docker.io" {
		return true
	}
	return !strings.ContainsAny(first, ".:")
}
