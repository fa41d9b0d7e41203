# syntax=docker/dockerfile:1
# pullguard: a static binary on distroless, running as non-root.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/webhook ./cmd/webhook

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/webhook /webhook
USER 65532:65532
EXPOSE 8443 8080 8081
ENTRYPOINT ["/webhook"]
CMD ["serve"]
