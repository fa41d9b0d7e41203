package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/pullguard/pullguard/pkg/admission/decision"
	"github.com/pullguard/pullguard/pkg/admission/openshift"
)

// Stdin is the path that means standard input.
const Stdin = "-"

// Object is one object read from a manifest.
type Object struct {
	// Source is the file it came from ("-" for standard input).
	Source string
	// Document is its 1-based position among the documents of Source; Item is its
	// 0-based position in a kind: List, or -1.
	Document int
	Item     int
	Kind     string
	// Value is a typed pointer: *corev1.Pod, *openshift.BuildConfig, *appsv1.Deployment,
	// *corev1.Secret, ...
	Value any
}

// Where says where the object came from, for messages.
func (o Object) Where() string {
	s := fmt.Sprintf("%s: document %d", displayName(o.Source), o.Document)
	if o.Item >= 0 {
		s += fmt.Sprintf(", item %d", o.Item)
	}
	return s
}

// Error is a malformed document.
type Error struct {
	Source   string
	Document int
	Item     int
	Err      error
}

func (e *Error) Error() string {
	where := fmt.Sprintf("%s: document %d", displayName(e.Source), e.Document)
	if e.Item >= 0 {
		where += fmt.Sprintf(", item %d", e.Item)
	}
	return where + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func displayName(source string) string {
	if source == Stdin {
		return "<stdin>"
	}
	return source
}

// Read reads every path in order: a file, a directory (its .yaml, .yml and .json files,
// recursively, in lexical order) or "-" for stdin.
func Read(paths []string, stdin io.Reader) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			objs, err := readSource(f, stdin)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func expand(p string) ([]string, error) {
	if p == Stdin {
		return []string{Stdin}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	slices.Sort(files)
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("%s: no .yaml, .yml or .json files", p)
	}
	return files, err
}

func readSource(source string, stdin io.Reader) ([]Object, error) {
	var r io.Reader = stdin
	if source != Stdin {
		f, err := os.Open(source)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	return Decode(source, r)
}

// Decode reads every document of r; source names it in objects and errors.
func Decode(source string, r io.Reader) ([]Object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bufio.NewReader(r), 4096)
	var out []Object
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &Error{Source: source, Document: doc, Item: -1, Err: err}
		}
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || string(raw) == "null" {
			doc-- // an empty document between separators is not counted
			continue
		}
		objs, err := decodeDocument(source, doc, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
}

func decodeDocument(source string, doc int, raw []byte) ([]Object, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(raw, &tm); err != nil {
		return nil, &Error{Source: source, Document: doc, Item: -1, Err: fmt.Errorf("not an object: %w", err)}
	}
	if tm.Kind != "List" && !strings.HasSuffix(tm.Kind, "List") {
		obj, err := decodeObject(tm, raw)
		if err != nil {
			return nil, &Error{Source: source, Document: doc, Item: -1, Err: err}
		}
		if obj == nil {
			return nil, nil
		}
		return []Object{{Source: source, Document: doc, Item: -1, Kind: tm.Kind, Value: obj}}, nil
	}
	var list struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &Error{Source: source, Document: doc, Item: -1, Err: fmt.Errorf("%s: %w", tm.Kind, err)}
	}
	var out []Object
	for i, item := range list.Items {
		var itm metav1.TypeMeta
		if err := json.Unmarshal(item, &itm); err != nil {
			return nil, &Error{Source: source, Document: doc, Item: i, Err: fmt.Errorf("not an object: %w", err)}
		}
		obj, err := decodeObject(itm, item)
		if err != nil {
			return nil, &Error{Source: source, Document: doc, Item: i, Err: err}
		}
		if obj != nil {
			out = append(out, Object{Source: source, Document: doc, Item: i, Kind: itm.Kind, Value: obj})
		}
	}
	return out, nil
}

// decodeObject decodes the kinds pullguard reads; it returns nil for other kinds.
func decodeObject(tm metav1.TypeMeta, raw []byte) (any, error) {
	if tm.Kind == "" {
		return nil, errors.New(`no "kind"`)
	}
	obj := newObject(tm)
	if obj == nil {
		return nil, nil
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if s, ok := obj.(*corev1.Secret); ok {
		mergeStringData(s)
	}
	return obj, nil
}

func newObject(tm metav1.TypeMeta) any {
	group := tm.GroupVersionKind().Group
	if group == "" {
		switch tm.Kind {
		case "Secret":
			return &corev1.Secret{}
		case "ServiceAccount":
			return &corev1.ServiceAccount{}
		case "Namespace":
			return &corev1.Namespace{}
		// OpenShift's legacy unqualified apiVersion v1 is accepted for its kinds too.
		case "BuildConfig":
			group = openshift.BuildGroup
		case "DeploymentConfig":
			group = openshift.AppsGroup
		}
	}
	if group == rbacv1.GroupName {
		// The internal registry's cross-project rule is evaluated with the input's RBAC.
		switch tm.Kind {
		case "Role":
			return &rbacv1.Role{}
		case "ClusterRole":
			return &rbacv1.ClusterRole{}
		case "RoleBinding":
			return &rbacv1.RoleBinding{}
		case "ClusterRoleBinding":
			return &rbacv1.ClusterRoleBinding{}
		}
	}
	return decision.NewObject(group, tm.Kind)
}

// mergeStringData applies stringData over data, as the API server does on write.
func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		return
	}
	if s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}
