package access

import (
	"context"
	"fmt"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/pullguard/pullguard/pkg/admission/decision"
)

// Built-in roles as OpenShift defines them, for bindings to them when the input does not
// hold the ClusterRoles themselves.
var builtinClusterRoles = map[string][]rbacv1.PolicyRule{
	"system:image-puller": {{Verbs: []string{"get"}, APIGroups: []string{"", decision.ImageAPIGroup}, Resources: []string{"imagestreams/layers"}}},
	"system:image-builder": {
		{Verbs: []string{"get", "update"}, APIGroups: []string{"", decision.ImageAPIGroup}, Resources: []string{"imagestreams/layers"}},
		{Verbs: []string{"create"}, APIGroups: []string{"", decision.ImageAPIGroup}, Resources: []string{"imagestreams"}},
	},
}

// defaultPullersBinding is the RoleBinding OpenShift creates in every project: its service
// accounts may pull its images.
const defaultPullersBinding = "system:image-pullers"

// Offline answers access questions from the RBAC objects of `webhook check`'s input, the
// way the API server's RBAC authorizer would if they were all the cluster had, plus the
// binding OpenShift gives every project (system:image-pullers, unless the input holds its
// own). A project none of whose RoleBindings are in the input is "not checked offline",
// unless a ClusterRoleBinding of the input allows the question.
type Offline struct {
	roles           map[string]*rbacv1.Role // namespace/name
	clusterRoles    map[string]*rbacv1.ClusterRole
	bindings        []*rbacv1.RoleBinding
	clusterBindings []*rbacv1.ClusterRoleBinding
}

// NewOffline returns an evaluator with no RBAC objects.
func NewOffline() *Offline {
	return &Offline{roles: map[string]*rbacv1.Role{}, clusterRoles: map[string]*rbacv1.ClusterRole{}}
}

// Add records an RBAC object of the input, reporting whether it was one; ns is the
// namespace of namespaced objects that name none.
func (o *Offline) Add(obj any, ns string) bool {
	switch v := obj.(type) {
	case *rbacv1.Role:
		o.roles[namespaceOr(v.Namespace, ns)+"/"+v.Name] = v
	case *rbacv1.ClusterRole:
		o.clusterRoles[v.Name] = v
	case *rbacv1.RoleBinding:
		b := v.DeepCopy()
		b.Namespace = namespaceOr(b.Namespace, ns)
		o.bindings = append(o.bindings, b)
	case *rbacv1.ClusterRoleBinding:
		o.clusterBindings = append(o.clusterBindings, v)
	default:
		return false
	}
	return true
}

// Ask answers every question.
func (o *Offline) Ask(_ context.Context, qs []decision.AccessQuestion) decision.Answers {
	out := make(decision.Answers, len(qs))
	for _, q := range qs {
		out[q] = o.answer(q)
	}
	return out
}

func (o *Offline) answer(q decision.AccessQuestion) decision.AccessAnswer {
	var unknown []string
	allows := func(subjects []rbacv1.Subject, bindingNS string, ref rbacv1.RoleRef) bool {
		if !slices.ContainsFunc(subjects, func(s rbacv1.Subject) bool { return matchesSubject(s, q, bindingNS) }) {
			return false
		}
		rules, ok := o.roleRules(bindingNS, ref)
		if !ok {
			unknown = append(unknown, ref.Name)
			return false
		}
		return slices.ContainsFunc(rules, func(r rbacv1.PolicyRule) bool { return allowsRule(r, q.Verb) })
	}
	for _, b := range o.clusterBindings {
		if allows(b.Subjects, "", b.RoleRef) {
			return decision.AccessAnswer{Status: decision.AccessAllowed}
		}
	}
	bindings := o.projectBindings(q.Project)
	if len(bindings) == 0 {
		// The project's bindings are not in the input: the cluster has some (at least
		// OpenShift's default), so a refusal here would be a guess.
		return decision.AccessAnswer{Status: decision.AccessNotChecked, Reason: fmt.Sprintf("the input holds no RoleBindings of project %q", q.Project)}
	}
	for _, b := range bindings {
		if allows(b.Subjects, b.Namespace, b.RoleRef) {
			return decision.AccessAnswer{Status: decision.AccessAllowed}
		}
	}
	if len(unknown) > 0 {
		return decision.AccessAnswer{Status: decision.AccessNotChecked, Reason: fmt.Sprintf("role %q is not in the input", unknown[0])}
	}
	return decision.AccessAnswer{Status: decision.AccessRefused, Reason: fmt.Sprintf("no RoleBinding of project %q in the input allows it", q.Project)}
}

// projectBindings returns the project's bindings in the input, with OpenShift's default
// binding of its service accounts unless the input holds one of that name; none when the
// input holds none of the project's.
func (o *Offline) projectBindings(project string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	ownDefault := false
	for _, b := range o.bindings {
		if b.Namespace == project {
			out = append(out, b)
			ownDefault = ownDefault || b.Name == defaultPullersBinding
		}
	}
	if len(out) > 0 && !ownDefault {
		out = append(out, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: defaultPullersBinding, Namespace: project},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:" + project}},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:image-puller"},
		})
	}
	return out
}

// roleRules returns the rules of a binding's role, and false when the input does not hold
// it (nor is it one of OpenShift's image roles).
func (o *Offline) roleRules(ns string, ref rbacv1.RoleRef) ([]rbacv1.PolicyRule, bool) {
	if ref.Kind == "Role" {
		r, ok := o.roles[ns+"/"+ref.Name]
		if !ok {
			return nil, false
		}
		return r.Rules, true
	}
	cr, ok := o.clusterRoles[ref.Name]
	if !ok {
		rules, builtin := builtinClusterRoles[ref.Name]
		return rules, builtin
	}
	rules := slices.Clone(cr.Rules)
	if cr.AggregationRule != nil {
		for _, sel := range cr.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				continue
			}
			for _, other := range o.clusterRoles {
				if other.Name != cr.Name && s.Matches(labels.Set(other.Labels)) {
					rules = append(rules, other.Rules...)
				}
			}
		}
	}
	return rules, true
}

// matchesSubject applies RBAC's subject rules to the account's user and groups.
func matchesSubject(s rbacv1.Subject, q decision.AccessQuestion, bindingNS string) bool {
	switch s.Kind {
	case rbacv1.UserKind:
		return s.Name == q.User()
	case rbacv1.GroupKind:
		return slices.Contains(q.Groups(), s.Name)
	case rbacv1.ServiceAccountKind:
		return s.Name == q.ServiceAccount && namespaceOr(s.Namespace, bindingNS) == q.Namespace
	}
	return false
}

// allowsRule applies RBAC's rule matching to verb on imagestreams/layers of
// image.openshift.io, with no resource name.
func allowsRule(r rbacv1.PolicyRule, verb string) bool {
	if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 && len(r.Resources) == 0 {
		return false
	}
	if !slices.Contains(r.Verbs, verb) && !slices.Contains(r.Verbs, rbacv1.VerbAll) {
		return false
	}
	if !slices.Contains(r.APIGroups, decision.ImageAPIGroup) && !slices.Contains(r.APIGroups, rbacv1.APIGroupAll) {
		return false
	}
	combined := decision.ImageStreamResource + "/" + decision.LayersSubresource
	return slices.ContainsFunc(r.Resources, func(res string) bool {
		return res == rbacv1.ResourceAll || res == combined || res == "*/"+decision.LayersSubresource
	})
}

func namespaceOr(ns, def string) string {
	if ns == "" {
		return def
	}
	return ns
}
