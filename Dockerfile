# One image with every Earshot binary; a Deployment picks one by its command (see k8s/).
#   docker build -t ghcr.io/earshot/earshot:0.1.0 .
# No system protoc is needed (the protos compile in pure Rust), and the model and cues are
# embedded in earshot-classify.
FROM rust:1.94-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p earshot-ingest -p earshot-classify -p earshot-routing -p earshot-escalation \
      -p earshot-console -p earshot-ctl \
 && mkdir /out \
 && cp target/release/earshot-ingest target/release/earshot-classify target/release/earshot-routing \
       target/release/earshot-escalation target/release/earshot-console target/release/earshotctl /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --home-dir /var/lib/earshot --create-home earshot
COPY --from=build /out/ /usr/local/bin/
USER 10001
WORKDIR /var/lib/earshot
