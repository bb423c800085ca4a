# syntax=docker/dockerfile:1
#
# picket's container image. Build it from the repository root with:
#
#   docker build -t picket .
#
# (the same command as in the README's "Deployment" section; a test keeps the two equal).
#
# Two stages: the release binary is built in the official Rust image, and runs in distroless
# `cc` (glibc, libgcc, CA certificates; no shell, no package manager) as the non-root user
# 65532. The probe library is embedded in the binary. At run time picket writes only its state
# store (state.path); the image's working directory and VOLUME are /var/lib/picket, so a root
# filesystem mounted read-only is fine (`docker run --read-only`, Kubernetes
# readOnlyRootFilesystem). No HEALTHCHECK: orchestrators probe GET /healthz and /readyz.

FROM rust:1-bookworm AS build
WORKDIR /src
# Only what the build reads: the manifest and lockfile, the build script, the sources, the
# probe library (embedded by include_dir) and the declared bench target's file.
COPY Cargo.toml Cargo.lock build.rs ./
COPY src/ src/
COPY probes/ probes/
COPY benches/ benches/
# The cargo registry and target directory are BuildKit caches, so a rebuild after a source
# change does not download or recompile the dependencies; the binary is copied out of the
# cache mount.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/picket /out/usr/local/bin/picket \
    && install -d -m 0700 -o 65532 -g 65532 /out/var/lib/picket

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="picket" \
      org.opencontainers.image.description="Continuously probes live service endpoints for security properties and reports regressions through OpenTelemetry" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/usr/local/bin/picket /usr/local/bin/picket
# The state directory, owned by the runtime user: a named volume mounted here starts with
# that ownership. Configs should put state.path under it (e.g. /var/lib/picket/state).
COPY --from=build --chown=65532:65532 /out/var/lib/picket /var/lib/picket
VOLUME ["/var/lib/picket"]
# Relative paths in a config (state.path: .picket/state) then land on the volume too.
WORKDIR /var/lib/picket
USER 65532:65532
EXPOSE 9750
ENTRYPOINT ["/usr/local/bin/picket"]
CMD ["run", "-c", "/etc/picket/picket.yaml"]
