package probe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pullguard/pullguard/pkg/registryauth"
)

// manifestAccept lists the manifest types a pull accepts (go-containerregistry's list for
// remote.Head): without them registries answer 404 for an index or convert to schema 1.
var manifestAccept = strings.Join([]string{
	string(types.DockerManifestSchema1), string(types.DockerManifestSchema1Signed),
	string(types.DockerManifestSchema2), string(types.OCIManifestSchema1),
	string(types.DockerManifestList), string(types.OCIImageIndex),
}, ",")

// errNoReference is the error of an image that makes no registry request.
var errNoReference = errors.New("cannot form a registry request for the reference")

// askRegistry asks for img's manifest with cred: HEAD, or GET where HEAD is not allowed.
// go-containerregistry does the handshake (ping, bearer token or basic auth) and parses
// errors; the request is pullguard's own because a probe needs only the status, and
// remote.Get would read up to 100 MiB of manifest. A GET's body is never read.
func (p *Prober) askRegistry(ctx context.Context, img registryauth.Image, cred *registryauth.Credential) error {
	sep := ":"
	if img.Digest != "" {
		sep = "@"
	}
	ref, err := name.ParseReference(img.Name + sep + img.Reference())
	if err != nil {
		return errNoReference
	}
	auth := authn.Anonymous
	if cred != nil && !cred.Empty() {
		auth = authn.FromConfig(authn.AuthConfig{Username: cred.Username(), Password: cred.Password()})
	}
	repo := ref.Context()
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, transport.NewUserAgent(p.transport, "pullguard"), []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return err
	}
	client := &http.Client{Transport: rt}
	u := url.URL{Scheme: repo.Scheme(), Host: repo.RegistryStr(), Path: fmt.Sprintf("/v2/%s/manifests/%s", repo.RepositoryStr(), ref.Identifier())}
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
		if err != nil {
			return errNoReference
		}
		req.Header.Set("Accept", manifestAccept)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		err = transport.CheckError(resp, http.StatusOK)
		resp.Body.Close()
		var terr *transport.Error
		if method == http.MethodHead && errors.As(err, &terr) && terr.StatusCode == http.StatusMethodNotAllowed {
			continue
		}
		return err
	}
	return nil
}
