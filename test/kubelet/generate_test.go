package kubelet

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// family is a group of registries whose image names and docker config keys interact: a case
// draws both its images and its keys from one to three families, so that most keys are near
// misses or matches of most images rather than strangers.
type family struct {
	imageHosts []string // prefixes of image references, "" for Docker Hub's short form
	keyHosts   []string // hosts (with ports, globs, odd spellings) of docker config keys
}

var families = []family{
	{ // Docker Hub: short names, the index.docker.io fallback, the other names of the hub.
		imageHosts: []string{"", "", "docker.io/", "index.docker.io/"},
		keyHosts:   []string{"docker.io", "index.docker.io", "registry-1.docker.io", "*.io", "*.docker.io", "Docker.io"},
	},
	{ // A cloud registry with organisations: path prefixes, case, ports, userinfo.
		imageHosts: []string{"quay.io/", "quay.io/", "Quay.io/"},
		keyHosts:   []string{"quay.io", "quay.io", "Quay.io", "*.io", "*.*", "quay.io:443", "user@quay.io", "quay.io.", "quay.io:bad"},
	},
	{ // A private domain: globs per label, label counts, ports, glob syntax.
		imageHosts: []string{"reg.example.com/", "a.b.example.com/", "example.com/", "reg.example.com:5000/", "Reg.Example.com/"},
		keyHosts:   []string{"reg.example.com", "*.example.com", "*.*.example.com", "example.com", "Reg.Example.com", "reg.example.com:5000", "*.example.com:5000", "r?g.example.com", "[a-r]eg.example.com", "re[g.example.com", "*.*"},
	},
	{ // Registries on the node itself: localhost (a Docker Hub name to the fallback), IPs.
		imageHosts: []string{"localhost/", "localhost:5000/", "127.0.0.1:5000/", "[::1]:5000/"},
		keyHosts:   []string{"localhost", "localhost:5000", "127.0.0.1:5000", "127.0.0.*:5000", "[::1]:5000", "*:5000", "*"},
	},
	{ // Two more vendors, to mix with the others.
		imageHosts: []string{"ghcr.io/", "registry.redhat.io/"},
		keyHosts:   []string{"ghcr.io", "registry.redhat.io", "*.*", "*.io", "*.redhat.io"},
	},
}

var (
	imagePaths = []string{"nginx", "library/nginx", "org/app", "organization/app", "org", "org/app/sub", "acme/api", "library", "team-a/app"}
	imageTails = []string{"", "", ":1.0", "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	keyPaths   = []string{"", "", "", "", "/", "/org", "/organization", "/org/", "/org/app", "/library", "/library/nginx", "/acme",
		"/v1/", "/v2/", "/v1/org", "/v2/library", "/v1", "/Org", "/%zz", "/%6Frg", "//org", "/org?x=1", "#org"}
	keySchemes  = []string{"", "", "", "https://", "http://", "HTTPS://", " "}
	secretNames = []string{"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"}
)

// generator draws cases from a seeded source: the same seed, the same cases.
type generator struct{ r *rand.Rand }

func newGenerator(seed uint64) *generator {
	return &generator{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

func pick[T any](g *generator, list []T) T { return list[g.r.IntN(len(list))] }

func (g *generator) families() []family {
	n := 1 + g.r.IntN(3)
	perm := g.r.Perm(len(families))[:n]
	out := make([]family, n)
	for i, j := range perm {
		out[i] = families[j]
	}
	return out
}

func (g *generator) image(fams []family) string {
	return pick(g, pick(g, fams).imageHosts) + pick(g, imagePaths) + pick(g, imageTails)
}

func (g *generator) key(fams []family) string {
	if g.r.IntN(12) == 0 {
		return "https://index.docker.io/v1/" // what `docker login` writes for Docker Hub
	}
	return pick(g, keySchemes) + pick(g, pick(g, fams).keyHosts) + pick(g, keyPaths)
}

// entries returns n entries with distinct keys (a JSON object holds a key once).
func (g *generator) entries(fams []family, n int) []entry {
	var out []entry
	for range n {
		k := g.key(fams)
		if slices.ContainsFunc(out, func(e entry) bool { return e.Key == k }) {
			continue
		}
		form := plainForm
		switch g.r.IntN(8) {
		case 0:
			form = authPaddedForm
		case 1:
			form = authUnpaddedForm
		}
		out = append(out, entry{Key: k, Form: form})
	}
	return out
}

func (g *generator) kind() secretKind {
	switch n := g.r.IntN(200); {
	case n < 112:
		return configJSON
	case n < 120:
		return configJSONCapitalized
	case n < 170:
		return dockercfg
	case n < 178:
		return dockercfgAuths
	case n < 184:
		return noAuthsWrapper
	case n < 189:
		return opaqueType
	case n < 192:
		return emptyData
	case n < 196:
		return badJSON
	default:
		return badAuth
	}
}

// podCase draws a pod of 1-4 images (sometimes an init container or an image volume), 0-3
// pod secrets, 0-4 more namespace secrets and a node config of 0-3 keys.
func (g *generator) podCase() podCase {
	fams := g.families()
	var c podCase
	n := 1 + g.r.IntN(4)
	for range n {
		c.Images = append(c.Images, g.image(fams))
	}
	if n > 1 && g.r.IntN(4) == 0 {
		c.Init = 1
	}
	if n-c.Init > 1 && g.r.IntN(6) == 0 {
		c.Volume = 1
	}
	names := slices.Clone(secretNames)
	g.r.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	nPod, nNS := g.r.IntN(4), g.r.IntN(5)
	for i := range nPod + nNS {
		s := secretSpec{Name: names[i], Kind: g.kind(), Entries: g.entries(fams, g.r.IntN(4))}
		if len(s.Entries) == 0 && g.r.IntN(2) == 0 {
			s.Entries = g.entries(fams, 1)
		}
		c.Secrets = append(c.Secrets, s)
		if i < nPod {
			c.Refs = append(c.Refs, s.Name)
		}
	}
	if g.r.IntN(20) == 0 {
		// A secret the pod names but the namespace does not have: the kubelet skips it.
		c.Refs = slices.Insert(c.Refs, g.r.IntN(len(c.Refs)+1), "ghost")
	}
	c.Node = g.entries(fams, g.r.IntN(4))
	c.NodeNil = len(c.Node) == 0 && g.r.IntN(2) == 0
	return c
}

// keyringCase draws 1-4 well-formed secrets in pod order and 8 images for a keyring-level
// comparison.
func (g *generator) keyringCase() (secrets []secretSpec, images []string) {
	fams := g.families()
	for i := range 1 + g.r.IntN(4) {
		kind := configJSON
		if g.r.IntN(3) == 0 {
			kind = dockercfg
		}
		secrets = append(secrets, secretSpec{Name: secretNames[i], Kind: kind, Entries: g.entries(fams, 1+g.r.IntN(4))})
	}
	for range 8 {
		images = append(images, g.image(fams))
	}
	return secrets, images
}

// shrink removes parts of a failing case while it still fails with a finding of the same
// kind, so a disagreement is reported on the smallest pod that shows it.
func shrink(fails func(podCase) bool, c podCase) podCase {
	for changed := true; changed; {
		changed = false
		for _, smaller := range smallerCases(c) {
			if fails(smaller) {
				c, changed = smaller, true
				break
			}
		}
	}
	return c
}

// smallerCases lists the cases one step simpler than c.
func smallerCases(c podCase) []podCase {
	var out []podCase
	nContainers := len(c.Images) - c.Init - c.Volume
	for i := range c.Images {
		if len(c.Images) == 1 || (i < nContainers && nContainers == 1) {
			continue // a pod keeps one container
		}
		d := clone(c)
		d.Images = slices.Delete(d.Images, i, i+1)
		switch {
		case i >= nContainers+c.Init:
			d.Volume--
		case i >= nContainers:
			d.Init--
		}
		out = append(out, d)
	}
	for i := range c.Secrets {
		d := clone(c)
		name := d.Secrets[i].Name
		d.Secrets = slices.Delete(d.Secrets, i, i+1)
		d.Refs = slices.DeleteFunc(d.Refs, func(r string) bool { return r == name })
		out = append(out, d)
	}
	for i := range c.Refs {
		d := clone(c)
		d.Refs = slices.Delete(d.Refs, i, i+1)
		out = append(out, d)
	}
	for i, s := range c.Secrets {
		for j := range s.Entries {
			d := clone(c)
			d.Secrets[i].Entries = slices.Delete(d.Secrets[i].Entries, j, j+1)
			out = append(out, d)
		}
		if s.Kind != configJSON {
			d := clone(c)
			d.Secrets[i].Kind = configJSON
			out = append(out, d)
		}
		for j, e := range s.Entries {
			if e.Form != plainForm {
				d := clone(c)
				d.Secrets[i].Entries[j].Form = plainForm
				out = append(out, d)
			}
		}
	}
	for j := range c.Node {
		d := clone(c)
		d.Node = slices.Delete(d.Node, j, j+1)
		out = append(out, d)
	}
	if c.NodeNil {
		d := clone(c)
		d.NodeNil = false
		out = append(out, d)
	}
	for i, img := range c.Images {
		if at := strings.IndexAny(img, "@"); at > 0 {
			d := clone(c)
			d.Images[i] = img[:at]
			out = append(out, d)
		} else if colon := strings.LastIndex(img, ":1.0"); colon > 0 {
			d := clone(c)
			d.Images[i] = img[:colon]
			out = append(out, d)
		}
	}
	return out
}

func clone(c podCase) podCase {
	d := c
	d.Images = slices.Clone(c.Images)
	d.Refs = slices.Clone(c.Refs)
	d.Node = slices.Clone(c.Node)
	d.Secrets = make([]secretSpec, len(c.Secrets))
	for i, s := range c.Secrets {
		s.Entries = slices.Clone(s.Entries)
		d.Secrets[i] = s
	}
	return d
}
