# The ledger and walctl in one image (the compose file runs the ledger).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin wal-ledger --bin walctl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/wal-ledger /src/target/release/walctl /usr/local/bin/
ENV WAL_LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["wal-ledger"]
CMD ["serve"]
