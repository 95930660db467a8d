# failoverd: build with the Rust toolchain, run as a non-root user on a minimal base that carries
# CA certificates (needed for HTTPS probes and the AWS APIs).
#
#   docker build -t failoverd .
#   docker run --rm -v /etc/failoverd:/etc/failoverd:ro -v failoverd-state:/var/lib/failoverd failoverd
#
# The config is read from /etc/failoverd/failoverd.toml (mount it); intents and the journal live
# in /var/lib/failoverd (mount a volume so they survive restarts). AWS credentials come from the
# standard chain: environment, IRSA / ECS task role, or instance role.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
RUN cargo build --release --locked && strip target/release/failoverd

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/failoverd /usr/local/bin/failoverd
COPY --from=build --chown=nonroot:nonroot /src/config/example.toml /etc/failoverd/example.toml
VOLUME ["/var/lib/failoverd"]
USER nonroot:nonroot
ENTRYPOINT ["failoverd"]
CMD ["run", "--config", "/etc/failoverd/failoverd.toml"]
