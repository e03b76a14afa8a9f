# syntax=docker/dockerfile:1
# Builds one of the project's binaries (default: the controller) into a distroless image.
#   docker build --build-arg BINARY=vpsie-emulator -t vpsie-emulator .
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION} AS build
ARG BINARY=vpsie-autoscaler
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd cmd
COPY pkg pkg
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/app ./cmd/${BINARY}

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
USER 65532:65532
ENTRYPOINT ["/app"]
