# Multi-stage build: compile in the Rust image, run as a non-root user in a slim image.
# `--profile dist` (Cargo.toml): fat LTO and one codegen unit, slower to build than `release`.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not rebuild pingora.
COPY Cargo.toml Cargo.lock ./
# pingora-runtime with Gatehouse's patches ([patch.crates-io] in Cargo.toml).
COPY vendor ./vendor
RUN mkdir -p src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
 && cargo build --profile dist --locked \
 && rm -rf src
COPY askama.toml ./
COPY templates ./templates
COPY src ./src
RUN touch src/main.rs src/lib.rs && cargo build --profile dist --locked

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/gatehouse --shell /usr/sbin/nologin gatehouse \
 && mkdir -p /etc/gatehouse /var/lib/gatehouse \
 && chown gatehouse:gatehouse /var/lib/gatehouse
COPY --from=build /src/target/dist/gatehouse /usr/local/bin/gatehouse
COPY config/sidecar.toml /etc/gatehouse/gatehouse.toml
USER 10001:10001
WORKDIR /var/lib/gatehouse
VOLUME ["/var/lib/gatehouse"]
# 8080: proxy; 9090: admin (metrics, /healthz, /readyz).
EXPOSE 8080 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["--config", "/etc/gatehouse/gatehouse.toml"]
