# syntax=docker/dockerfile:1
# pullguard: a static binary on distroless, running as non-root, for any platform BuildKit
# targets. The build stage runs on the builder's own platform and cross-compiles (pure Go,
# CGO_ENABLED=0), so an arm64 image builds at native speed on amd64, without emulation:
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v0.2.0 --build-arg REVISION=$(git rev-parse HEAD) -t IMAGE --push .

FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
# The binary needs only cmd/ and pkg/ (go list -deps ./cmd/webhook).
COPY cmd/ cmd/
COPY pkg/ pkg/
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/webhook ./cmd/webhook

FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="pullguard" \
      org.opencontainers.image.description="Admission webhook for Kubernetes and OpenShift: injects the pull secret an image needs, or rejects the pod saying what to create" \
      org.opencontainers.image.source="https://github.com/pullguard/pullguard" \
      org.opencontainers.image.url="https://github.com/pullguard/pullguard" \
      org.opencontainers.image.documentation="https://github.com/pullguard/pullguard/blob/main/README.md" \
      org.opencontainers.image.vendor="pullguard" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/webhook /webhook
USER 65532:65532
EXPOSE 8443 8080 8081
ENTRYPOINT ["/webhook"]
CMD ["serve"]
