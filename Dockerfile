# failoverd: build with the Rust toolchain, run as a non-root user on a minimal base that carries
# CA certificates (needed for HTTPS probes and the AWS APIs).
#
#   docker build --build-arg FAILOVERD_GIT_COMMIT="$(git log -1 --format='%h %cs')" -t failoverd .
#   docker run --rm -v /etc/failoverd:/etc/failoverd:ro -v failoverd-state:/var/lib/failoverd failoverd
#
# The config is read from /etc/failoverd/failoverd.toml (mount it; the annotated example stays
# readable at /usr/share/failoverd/example.toml, outside the mount). Intents and the journal live
# in /var/lib/failoverd, owned by the image's non-root user (mount a volume so they survive
# restarts). AWS credentials come from the standard chain: environment, IRSA / ECS task role, or
# instance role.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
# Cargo.toml declares the probe benchmark; cargo refuses a manifest whose targets are missing.
COPY benches ./benches
# build.rs puts the commit in `failoverd --version`. The context has no .git, so the commit comes
# from this build argument (the command above); without it the version says "unknown".
COPY build.rs ./
ARG FAILOVERD_GIT_COMMIT=
RUN cargo build --release --locked --bin failoverd && strip target/release/failoverd \
    && mkdir -p /state

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/failoverd /usr/local/bin/failoverd
COPY --from=build /src/config/example.toml /usr/share/failoverd/example.toml
# The state directory belongs to the user the daemon runs as, so intents can be saved.
COPY --from=build --chown=nonroot:nonroot /state /var/lib/failoverd
VOLUME ["/var/lib/failoverd"]
USER nonroot:nonroot
ENTRYPOINT ["failoverd"]
CMD ["run", "--config", "/etc/failoverd/failoverd.toml"]
