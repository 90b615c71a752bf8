# kauth as a small static image that runs as a non-root user (uid 65532) and
# starts the agent: kauth serve with the config at /etc/kauth/kauth.yaml,
# its state (token cache, store key, agent key) in the volume /var/lib/kauth.
#
#   docker build -t kauth \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) .
#
# The binary is built by scripts/build.sh, as make dist builds it.
# examples/docker shows a config that listens on TCP, and a bot using it.

ARG GO_IMAGE=golang:1.26.8-bookworm
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that a change of the source does not fetch them again;
# build.sh itself reaches no network.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=unknown
ARG SOURCE_DATE_EPOCH=0
ARG TARGETOS
ARG TARGETARCH
RUN GOOS=${TARGETOS} GOARCH=${TARGETARCH} VERSION=${VERSION} COMMIT=${COMMIT} SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH} scripts/build.sh /out/kauth
RUN mkdir -p /out/state /out/config && chmod 0700 /out/state

FROM ${BASE_IMAGE}
COPY --from=build /src/LICENSE /usr/share/doc/kauth/LICENSE
COPY --from=build /out/kauth /usr/local/bin/kauth
COPY --from=build --chown=65532:65532 /out/state /var/lib/kauth
COPY --from=build /out/config /etc/kauth
USER 65532:65532
# The file store, its key and the agent key (agent.key: bots on TCP send it
# as Authorization: Bearer) live here; keep it in a volume so that a
# restarted container reuses the token instead of issuing another.
ENV KAUTH_CACHE_DIR=/var/lib/kauth
VOLUME ["/var/lib/kauth"]
EXPOSE 8700
ENTRYPOINT ["kauth"]
CMD ["serve", "--config", "/etc/kauth/kauth.yaml"]
# /healthz needs no key; the config must listen on TCP port 8700 (change
# this line with it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["kauth", "health", "--addr", "127.0.0.1:8700", "--timeout", "4s"]
