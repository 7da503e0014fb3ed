# Static, non-root images of the three binaries (docker-compose.yml builds them):
#   docker build --target park-collector -t parkcarbon/park-collector .
# Targets: park-collector, edge-agent, parkctl. The build stage compiles all three once.
FROM golang:1.26-bookworm AS build
WORKDIR /src
# Static binaries: no libc in the runtime image, so no cgo (net and os/user use their Go code).
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/edge-agent ./cmd/park-collector ./cmd/parkctl
# The state directory, owned by distroless' nonroot user (65532): a named volume mounted on
# it starts with this owner, so the agent's queue and the collector's spool are writable.
RUN mkdir -p /out/state

# distroless/static: CA certificates, tzdata (Asia/Shanghai for reports), /etc/passwd with
# nonroot; no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build --chown=65532:65532 /out/state /var/lib/parkcarbon
USER 65532:65532
WORKDIR /var/lib/parkcarbon

FROM runtime AS park-collector
COPY --from=build /out/park-collector /usr/local/bin/park-collector
EXPOSE 9100
ENTRYPOINT ["/usr/local/bin/park-collector"]
CMD ["-config", "/etc/parkcarbon/collector.yaml"]

FROM runtime AS edge-agent
COPY --from=build /out/edge-agent /usr/local/bin/edge-agent
EXPOSE 9101
ENTRYPOINT ["/usr/local/bin/edge-agent"]
CMD ["-config", "/etc/parkcarbon/edge.yaml"]

FROM runtime AS parkctl
COPY --from=build /out/parkctl /usr/local/bin/parkctl
EXPOSE 5020
ENTRYPOINT ["/usr/local/bin/parkctl"]
