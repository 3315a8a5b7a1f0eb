# threatwatch: multi-stage build, slim non-root runtime.
#   docker build -t threatwatch .
#   docker run -v "$PWD/threatwatch.toml:/etc/threatwatch/threatwatch.toml:ro" \
#              -v threatwatch-data:/data -e DISCORD_TOKEN threatwatch
# The config is read from /etc/threatwatch/threatwatch.toml; set `[storage] path =
# "/data/threatwatch.db"` in it so the database lives on the volume.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin threatwatch

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin threatwatch \
    && mkdir -p /data /etc/threatwatch \
    && chown threatwatch /data
COPY --from=build /src/target/release/threatwatch /usr/local/bin/threatwatch
USER threatwatch
WORKDIR /data
VOLUME ["/data"]
ENV THREATWATCH_CONFIG=/etc/threatwatch/threatwatch.toml \
    RUST_LOG=info
# Exec form: threatwatch is PID 1's child-free process and receives SIGTERM directly;
# it stops polling, finishes in-flight work within Docker's 10 s grace period and exits 0.
ENTRYPOINT ["threatwatch"]
CMD ["run"]
