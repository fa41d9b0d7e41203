package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/pullguard/pullguard/pkg/admission/manifest"
	"github.com/pullguard/pullguard/pkg/admission/state"
	"github.com/pullguard/pullguard/pkg/registryauth/mirrors"
)

// stdinName is what cli-runtime's builder calls standard input in its errors.
const stdinName = "<stdin>"

// clusterSource names the objects read from the cluster (TYPE/NAME arguments).
const clusterSource = "(cluster)"

// input resolves what kubectl would: -f files, directories (recursing only with -R), URLs
// and "-", -k kustomization directories, and TYPE/NAME arguments read from the cluster;
// every document is then decoded into the typed objects pullguard decides.
type input struct {
	files     []string
	recursive bool
	kustomize string
	// resources are TYPE/NAME (or TYPE NAME ...) arguments; selector and allNamespaces
	// narrow or widen them as for kubectl get.
	resources     []string
	selector      string
	allNamespaces bool
	namespace     string
	getter        genericclioptions.RESTClientGetter
	stdin         io.Reader

	// documents counts the documents seen per source, to name the one a decode error is in.
	documents map[string]int
}

// read returns the objects in input order: files and -k first, then the cluster's.
func (in *input) read() ([]manifest.Object, error) {
	in.documents = map[string]int{}
	var out []manifest.Object
	if len(in.files) > 0 || in.kustomize != "" {
		// Local: manifests are decoded as they are, whatever kinds the cluster serves.
		b := resource.NewLocalBuilder().Unstructured().Local()
		for _, f := range in.files {
			if f == manifest.Stdin {
				b = b.Stream(in.stdin, stdinName)
				continue
			}
			b = b.FilenameParam(false, &resource.FilenameOptions{Filenames: []string{f}, Recursive: in.recursive})
		}
		if in.kustomize != "" {
			b = b.FilenameParam(false, &resource.FilenameOptions{Kustomize: in.kustomize})
		}
		objs, err := in.visit(b.Do())
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	if len(in.resources) > 0 || in.selector != "" {
		b := resource.NewBuilder(in.getter).Unstructured().
			NamespaceParam(in.namespace).DefaultNamespace().AllNamespaces(in.allNamespaces).
			LabelSelectorParam(in.selector).
			ResourceTypeOrNameArgs(true, in.resources...).
			Flatten()
		objs, err := in.visit(b.Do())
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// visit decodes every document the builder yields. Each document is one info (lists are
// not flattened, so manifest numbers their items), in order, so counting them per source
// gives the document numbers manifest.Object.Where reports.
func (in *input) visit(r *resource.Result) ([]manifest.Object, error) {
	var out []manifest.Object
	err := r.Visit(func(info *resource.Info, err error) error {
		source := clusterSource
		if info != nil && info.Source != "" {
			source = sourceName(info.Source)
		}
		if err != nil {
			return err
		}
		in.documents[source]++
		raw, err := json.Marshal(info.Object)
		if err != nil {
			return err
		}
		objs, err := manifest.Decode(source, bytes.NewReader(raw))
		if err == nil {
			var sets []manifest.Object
			sets, err = mirrorSetsIn(source, raw)
			objs = append(objs, sets...)
		}
		if err != nil {
			var me *manifest.Error
			if errors.As(err, &me) {
				me.Document = in.documents[source]
			}
			return err
		}
		for i := range objs {
			objs[i].Document = in.documents[source]
			if source == clusterSource {
				objs[i].Document = 0
			}
		}
		out = append(out, objs...)
		return nil
	})
	return out, in.locate(err)
}

// mirrorSetsIn returns the mirror sets of one document (an object, or a List's items),
// which manifest leaves out: they are not decided, they say where the nodes pull from.
func mirrorSetsIn(source string, raw []byte) ([]manifest.Object, error) {
	var doc struct {
		metav1.TypeMeta `json:",inline"`
		Items           []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil // manifest has said what is wrong with it
	}
	one := func(item int, tm metav1.TypeMeta, raw []byte) (*manifest.Object, error) {
		if !state.IsMirrorSetKind(tm.APIVersion, tm.Kind) {
			return nil, nil
		}
		m := new(mirrors.MirrorSet)
		if err := json.Unmarshal(raw, m); err != nil {
			return nil, &manifest.Error{Source: source, Item: item, Err: fmt.Errorf("%s: %w", tm.Kind, err)}
		}
		return &manifest.Object{Source: source, Item: item, Kind: tm.Kind, Value: m}, nil
	}
	if !strings.HasSuffix(doc.Kind, "List") {
		obj, err := one(-1, doc.TypeMeta, raw)
		if obj == nil || err != nil {
			return nil, err
		}
		return []manifest.Object{*obj}, nil
	}
	var out []manifest.Object
	for i, item := range doc.Items {
		var tm metav1.TypeMeta
		if json.Unmarshal(item, &tm) != nil {
			continue // manifest has said what is wrong with it
		}
		obj, err := one(i, tm, item)
		if err != nil {
			return nil, err
		}
		if obj != nil {
			out = append(out, *obj)
		}
	}
	return out, nil
}

// sourceName maps cli-runtime's name for standard input back to manifest's.
func sourceName(s string) string {
	if s == stdinName {
		return manifest.Stdin
	}
	return s
}

var (
	// cli-runtime's words for a document it cannot read ("error parsing SOURCE: ...") or
	// decode ("unable to decode "SOURCE": ...").
	parseError  = regexp.MustCompile(`(?s)^error parsing (.+?): (.*)$`)
	decodeError = regexp.MustCompile(`(?s)^unable to decode "(.+?)": (.*)$`)
	missingKind = regexp.MustCompile(`(?s)^Object '(Kind|apiVersion)' is missing in '.*'$`)
)

// locate names the document of an error, as manifest does: cli-runtime names only the
// source, and the line of a YAML error counts from the document's start. The documents
// before it were read, so it is the next one. A missing kind is said without the
// document's text, which cli-runtime quotes and which may hold a secret.
func locate(documents map[string]int, err error) error {
	if err == nil {
		return nil
	}
	var me *manifest.Error
	if errors.As(err, &me) {
		return me
	}
	m := parseError.FindStringSubmatch(err.Error())
	if m == nil {
		m = decodeError.FindStringSubmatch(err.Error())
	}
	if m == nil {
		return err
	}
	why := m[2]
	if k := missingKind.FindStringSubmatch(why); k != nil {
		why = fmt.Sprintf("no %q", strings.ToLower(k[1][:1])+k[1][1:])
	}
	src := sourceName(m[1])
	return &manifest.Error{Source: src, Document: documents[src] + 1, Item: -1, Err: errors.New(why)}
}

func (in *input) locate(err error) error { return locate(in.documents, err) }
