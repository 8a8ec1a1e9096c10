# The loadfleet image: the one `loadfleet` binary that runs every server
# target (`loadfleet server --target=...`), the CLI and the local executor.
# From the repository root:
#
#   docker build -t loadfleet/loadfleet:dev .
#   docker build --target executor-native -t loadfleet/executor-native:dev .
#
# The second line builds the executor image the Docker locations run (the
# same image as executors/images/native/Dockerfile, from this build stage).
#
# The final stage is alpine, not distroless or scratch: services/gitsource
# fetches the git sources of plans by running the git binary (and ssh for
# ssh:// remotes), and the compose healthchecks use busybox's wget.

ARG GO_VERSION=1.26
ARG ALPINE_VERSION=3.22

FROM golang:${GO_VERSION}-alpine AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
# Module files first: the download layer is reused until one of them
# changes. Every module of go.work is listed, or the workspace does not
# load (deploy's sources are not needed, only its go.mod).
COPY go.work go.work.sum ./
COPY schemas/go.mod schemas/go.sum schemas/
COPY executors/go.mod executors/go.sum executors/
COPY services/go.mod services/go.sum services/
COPY deploy/go.mod deploy/go.sum deploy/
RUN go mod download
COPY schemas/ schemas/
COPY executors/ executors/
COPY services/ services/
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X github.com/loadfleet/loadfleet/executors/command.Version=${VERSION}" \
        -o /out/loadfleet ./services/cmd/loadfleet \
    && go build -trimpath -ldflags "-s -w -X github.com/loadfleet/loadfleet/executors/command.Version=${VERSION}" \
        -o /out/loadfleet-executor ./executors/cmd/loadfleet-executor \
    && mkdir -p /out/spool

# The executor image (not the default target): what
# executors/images/native/Dockerfile documents, built from the stage above.
FROM scratch AS executor-native
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/loadfleet-executor /loadfleet-executor
# The spool outlives the executor in the container's layer (see
# executors/images/native/Dockerfile).
COPY --from=build --chown=65534:65534 /out/spool /spool
WORKDIR /tmp
ENV TMPDIR=/tmp
ENTRYPOINT ["/loadfleet-executor"]
CMD ["agent"]

FROM alpine:${ALPINE_VERSION} AS loadfleet
RUN apk add --no-cache ca-certificates git openssh-client \
    && addgroup -S -g 10001 loadfleet \
    && adduser -S -D -H -u 10001 -G loadfleet -h /var/lib/loadfleet loadfleet \
    && mkdir -p /var/lib/loadfleet /var/cache/loadfleet /etc/loadfleet \
    && chown loadfleet:loadfleet /var/lib/loadfleet /var/cache/loadfleet
COPY --from=build /out/loadfleet /usr/local/bin/loadfleet
# The git cache goes to XDG_CACHE_HOME; the data directory (the default
# ./loadfleet-data: SQLite, embedded series, local executors' files) under
# the working directory, a volume.
ENV XDG_CACHE_HOME=/var/cache/loadfleet
WORKDIR /var/lib/loadfleet
VOLUME ["/var/lib/loadfleet"]
# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["loadfleet"]
# Fails closed: a server with no API token refuses a non-loopback address,
# so this default command exits with a message until it is given a token:
#   docker run -e LOADFLEET_AUTH_TOKEN=... -p 8080:8080 loadfleet/loadfleet:dev
# (or auth.tokens in a --config file; --insecure-no-auth for an open API).
CMD ["server", "--listen", "0.0.0.0:8080"]
