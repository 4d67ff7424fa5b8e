# syntax=docker/dockerfile:1
#
# The bridge as a container image: one static binary on distroless.
#
#   docker build -t cityhealth/bridge:$(git rev-parse --short HEAD) .
#   docker run --rm -p 8080:8080 --env-file bridge.env cityhealth/bridge:…
#
# The same binary serves every subcommand; the image runs `bridge serve` by
# default. Other subcommands:
#   docker run --rm --env-file bridge.env IMAGE mapping validate /etc/bridge/mapping.yaml
#   docker run --rm -e BRIDGE_JWT_SECRET=… IMAGE token --role admin --sub alice --ttl 1h
#   docker run --rm -p 8080:8080 IMAGE demo --addr 0.0.0.0:8080
#
# Health: distroless has no shell or curl, so there is no HEALTHCHECK here.
# Use the orchestrator's probes instead (Kubernetes livenessProbe on /healthz,
# readinessProbe on /readyz; see deploy/). docker compose users get the same
# from the load balancer's health checks (deploy/docker-compose.yml).

ARG GO_VERSION=1.26

# ---------------------------------------------------------------- build stage
FROM golang:${GO_VERSION} AS build
WORKDIR /src

# Modules first, so a code change does not re-download them.
# (go.mod pins go 1.26.x; an older 1.26 image fetches that toolchain itself.)
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download

COPY . .
# CGO off: a fully static binary that runs on distroless/static or scratch.
# -trimpath drops local paths; -s -w drop the symbol and DWARF tables.
# cmd/bridge imports time/tzdata, so BRIDGE_TIMEZONE works without zoneinfo.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux GOFLAGS=-mod=readonly \
    go build -trimpath -ldflags "-s -w" -o /out/bridge ./cmd/bridge

# ---------------------------------------------------------------- final stage
# distroless/static carries CA certificates (Salesforce, Twilio and rediss://
# need them), /etc/passwd with the nonroot user, and nothing else: no shell,
# no package manager. Pin it by digest in production:
#   FROM gcr.io/distroless/static-debian12:nonroot@sha256:…
FROM gcr.io/distroless/static-debian12:nonroot

LABEL org.opencontainers.image.title="bridge" \
      org.opencontainers.image.description="Salesforce ⇄ Twilio Flex bridge for contact tracing" \
      org.opencontainers.image.source="https://github.com/cityhealth/bridge"

COPY --from=build /out/bridge /bridge
# The example mapping, for `mapping validate` and as a starting point; the
# real one is mounted (Kubernetes: a ConfigMap at /etc/bridge/mapping.yaml).
COPY --from=build /src/config/mapping.example.yaml /etc/bridge/mapping.example.yaml

# 65532 is distroless's "nonroot". Numeric, so Kubernetes runAsNonRoot can
# verify it without reading /etc/passwd.
USER 65532:65532

# BRIDGE_ADDR defaults to :8080. The bridge writes nothing to disk, so the
# root filesystem can be mounted read-only.
EXPOSE 8080

ENTRYPOINT ["/bridge"]
CMD ["serve"]
