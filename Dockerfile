# Static, non-root images of the three binaries.
#   docker build --target park-collector -t parkcarbon/park-collector .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/edge-agent ./cmd/park-collector ./cmd/parkctl

FROM gcr.io/distroless/static-debian12:nonroot AS park-collector
COPY --from=build /out/park-collector /usr/local/bin/park-collector
ENTRYPOINT ["/usr/local/bin/park-collector"]
CMD ["-config", "/etc/parkcarbon/collector.yaml"]

FROM gcr.io/distroless/static-debian12:nonroot AS edge-agent
COPY --from=build /out/edge-agent /usr/local/bin/edge-agent
ENTRYPOINT ["/usr/local/bin/edge-agent"]
CMD ["-config", "/etc/parkcarbon/edge.yaml"]

FROM gcr.io/distroless/static-debian12:nonroot AS parkctl
COPY --from=build /out/parkctl /usr/local/bin/parkctl
ENTRYPOINT ["/usr/local/bin/parkctl"]
