# pullguard — run `make help` for the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(CURDIR)/bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)

# Pinned versions of the test cluster's binaries (see DEVELOPERS.md).
KUBE_VERSION := v1.37.2
ETCD_VERSION := v3.6.16
KUBE_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37

KUBE_APISERVER := $(BIN)/kube-apiserver
ETCD           := $(BIN)/etcd
KUBECTL        := $(BIN)/kubectl
KUBELET        := $(BIN)/kubelet

# Image and deployment (deploy with your cluster's own oc or kubectl).
IMG     ?= ghcr.io/pullguard/pullguard:$(VERSION)
OVERLAY ?= openshift
DEPLOY_KUBECTL ?= $(shell command -v oc 2>/dev/null || echo kubectl)

# envtest finds its binaries here; tests and the demo read the same variable.
export KUBEBUILDER_ASSETS := $(BIN)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/webhook and bin/kubectl-pullguard (the same binary as a kubectl/oc plugin).
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/webhook ./cmd/webhook
	cp $(BIN)/webhook $(BIN)/kubectl-pullguard

.PHONY: demo
demo: $(KUBE_APISERVER) $(ETCD) $(KUBECTL) ## Run pullguard on a local API server: an injection, a rejection, a warning (DEMO_KEEP=1 keeps it up).
	@echo ">> compiling the demo: pullguard and the test harness (several minutes the first time, silent until it starts)"
	$(GO) run ./test/demo

.PHONY: test
test: test-deps test-tools ## Run every test: unit, fuzz seeds, golden files, integration, registries, a real node.
	@echo ">> unit, golden, integration, registry and deploy tests (compiling first: several minutes the first time; a line per package as it finishes)"
	$(GO) test $$($(GO) list ./... | grep -v /test/node$$)
	cd test/kubelet && $(GO) test ./...
	@echo ">> node test: kubelet and containerd pulling from real registries"
	@set -o pipefail; $(GO) test -v ./test/node | grep -E '^(--- |ok |FAIL|node summary|node: )'

.PHONY: test-deps
test-deps: ## Install the Debian packages the tests run (docker-registry, containerd, runc, skopeo) when root; else name them.
	@hack/install-test-deps.sh

.PHONY: bench
bench: test-tools build ## Load-test pullguard against a no-op webhook floor on a seeded local API server (docs/performance.md).
	$(GO) build -o $(BIN)/bench-floor ./test/bench/floor
	$(GO) run ./test/bench $(BENCH_ARGS)

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: image
image: ## Build the container image $(IMG) (needs a Docker engine; PLATFORMS=linux/amd64,linux/arm64 builds both and pushes).
ifdef PLATFORMS
	docker buildx build --platform $(PLATFORMS) --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) -t $(IMG) --push .
else
	docker build --build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) -t $(IMG) .
endif

.PHONY: deploy
deploy: ## Install pullguard with deploy/overlays/$(OVERLAY) (openshift, kubernetes or self-signed) and image $(IMG).
	@# A kustomization over the overlay whose images: entry sets $(IMG) (name, and tag or digest).
	@mkdir -p $(BIN)/deploy && img='$(IMG)' && name="$${img%@*}" && digest="$${img#"$$name"}" && \
	if [ -z "$$digest" ] && [[ "$${name##*/}" == *:* ]]; then tag="$${name##*:}"; name="$${name%:*}"; fi && \
	printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../deploy/overlays/%s\nimages:\n- name: ghcr.io/pullguard/pullguard\n  newName: %s\n' '$(OVERLAY)' "$$name" > $(BIN)/deploy/kustomization.yaml && \
	if [ -n "$$digest" ]; then printf '  digest: %s\n' "$${digest#@}"; elif [ -n "$$tag" ]; then printf '  newTag: %s\n' "$$tag"; fi >> $(BIN)/deploy/kustomization.yaml
	$(DEPLOY_KUBECTL) apply -k $(BIN)/deploy

.PHONY: undeploy
undeploy: ## Remove what deploy installed (webhook configurations first).
	$(DEPLOY_KUBECTL) delete mutatingwebhookconfiguration,validatingwebhookconfiguration pullguard --ignore-not-found
	$(DEPLOY_KUBECTL) kustomize deploy/overlays/$(OVERLAY) | $(DEPLOY_KUBECTL) delete --ignore-not-found -f -

.PHONY: certs
certs: ## Write deploy/overlays/self-signed: a generated CA and serving certificate, for clusters without service-ca or cert-manager.
	$(GO) run ./certs/cmd/pullguard-certs --out deploy/overlays/self-signed

.PHONY: test-tools
test-tools: $(KUBE_APISERVER) $(ETCD) $(KUBECTL) $(KUBELET) ## Build the pinned kube-apiserver, etcd, kubectl and kubelet into bin/ (once).

$(KUBE_APISERVER): hack/tools/kube/go.mod hack/tools/kube/go.sum
	@echo ">> building kube-apiserver $(KUBE_VERSION) from the module proxy (several minutes, once)"
	cd hack/tools/kube && $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@ ./kube-apiserver

$(KUBECTL): hack/tools/kube/go.mod hack/tools/kube/go.sum
	@echo ">> building kubectl $(KUBE_VERSION) from the module proxy (once)"
	cd hack/tools/kube && $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@ ./kubectl

$(KUBELET): hack/tools/kube/go.mod hack/tools/kube/go.sum
	@echo ">> building kubelet $(KUBE_VERSION) from the module proxy (once)"
	cd hack/tools/kube && $(GO) build -trimpath -ldflags '$(KUBE_LDFLAGS)' -o $@ ./kubelet

$(ETCD): hack/tools/etcd/go.mod hack/tools/etcd/go.sum
	@echo ">> building etcd $(ETCD_VERSION) from the module proxy (once)"
	cd hack/tools/etcd && $(GO) build -trimpath -ldflags '-s -w' -o $@ .
