# Every binary of the workspace in one image: wal-ledger, walctl, wal-storage-node,
# wal-checker and wal-gateway, with scripts/docker/entrypoint.sh, which docker-compose.yml
# runs as each service of the network (keys, ledger, node N, setup, checker, gateway).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# sqlx's query! macros compile from the committed .sqlx/ data (as .cargo/config.toml
# says too): no database is needed to build.
ENV SQLX_OFFLINE=true
RUN cargo build --release --locked --workspace --bins

FROM debian:bookworm-slim
# curl for the health checks, jq for the set-up's reading of the ledger's answers.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl jq \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wal-ledger /src/target/release/walctl \
    /src/target/release/wal-storage-node /src/target/release/wal-checker \
    /src/target/release/wal-gateway /usr/local/bin/
COPY scripts/docker/entrypoint.sh /usr/local/bin/wal-entrypoint
ENV WAL_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["wal-entrypoint"]
# Without arguments the image is the ledger; the key comes from WAL_TREASURY_ADDRESS
# or, when that is unset, from /keys/treasury.key (made by `wal-entrypoint keys`).
CMD ["ledger"]
