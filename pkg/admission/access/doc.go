// Package access answers the decision core's access questions (decision.AccessQuestion):
// may a service account pull from (or push to) a project of OpenShift's internal registry?
// The registry asks the API server the same question with a SubjectAccessReview for the
// token's user; Reviewer asks it too, caching answers briefly and merging identical
// questions in flight. Offline evaluates the RoleBindings and ClusterRoles of `webhook
// check`'s input instead.
//
// It is the thin I/O step between the core's passes (pkg/admission/verify runs it); the
// core stays free of clients.
package access
