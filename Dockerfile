# syntax=docker/dockerfile:1
# Builds one of the project's binaries (default: the controller) into a distroless image, for the
# platform buildx asks for:
#   docker buildx build --platform linux/amd64,linux/arm64 -t vpsie-autoscaler .
#   docker build --build-arg BINARY=vpsie-emulator -t vpsie-emulator .
# The build flags are the Makefile's GO_BUILD_FLAGS (`make build` produces the same static
# binaries); test/dockerfile checks that they agree and lints this file.
ARG GO_VERSION=1.26
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG BINARY=vpsie-autoscaler
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd cmd
COPY pkg pkg
COPY hack/examples hack/examples
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/${BINARY}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
