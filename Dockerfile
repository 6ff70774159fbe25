# syntax=docker/dockerfile:1
# daemonguard's container image: `daemonguard serve` on a distroless Node.js 20 runtime, as the
# non-root user 65532, with production dependencies only. Build from the repository root:
#
#   docker build -t daemonguard:0.1.0 .
#
# The entrypoint is the daemonguard command and the default command is `serve
# --namespaces-from-cluster` (the built-in library selects namespaces by label, and the image is meant
# to run in a cluster), so `docker run daemonguard:0.1.0 certs --help` runs another command and a pod
# without args starts the server. deploy/ passes `serve` and its flags as the container's args.

ARG NODE_IMAGE=node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

# ---- build: compile the product (needs the dev dependencies) ---------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/clean.mjs ./scripts/
COPY src ./src
# tsconfig.build.json compiles src/ without its *.test.ts into dist/ (dist/cli/main.js is the bin).
RUN npm run build && rm -f dist/.tsbuildinfo

# ---- deps: production dependencies only ------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force

# ---- runtime -----------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
# glibc gives each thread that allocates its own malloc arena and keeps what it freed there; V8's
# compiler and GC threads would hold several MB of serve's resident memory that way under load.
# Two arenas: measured with `npm run bench:memory` (README "Performance").
ENV MALLOC_ARENA_MAX=2
# A fixed mmap threshold: blocks above 68 KiB are mapped and given back when freed. glibc's default
# threshold rises to the largest block freed so far, and from then on such blocks (under load mostly
# the optimizing compiler's scratch memory for the large generated CEL functions) stay in the heap,
# fragmented: 2-13 MB of resident memory under load in bench:memory, CPU per review within the noise.
# Above node's 64 KiB socket read buffers, which stay in the heap.
ENV MALLOC_MMAP_THRESHOLD_=69632
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# package.json: the version (`daemonguard --version`), "type": "module", and the marker by which the
# program finds its package root (/app), where schema/ and policies/ sit as in the npm package.
COPY package.json ./
COPY schema ./schema
# The built-in library: what `serve` loads when no --policies is given (deploy/ passes its own).
COPY policies ./policies
# Distroless "nonroot" is 65532 already; stated so that runAsNonRoot can verify a numeric user.
USER 65532:65532
# 8443: reviews over HTTPS; 8081: /healthz, /readyz, /metrics over plain HTTP (--probe-address).
EXPOSE 8443 8081
# --max-semi-space-size=4: V8's young generation at 2 x 4 MB instead of its default 2 x 16 MB. serve's
# reviews make short-lived garbage that dies young either way, so the smaller nursery costs a few more
# (cheap) scavenges and keeps about 24 MB less resident, idle and under load (`npm run bench:memory`
# starts serve with these flags and the deployment's NODE_OPTIONS; README "Performance" has the figures).
# --no-sparkplug: no baseline (Sparkplug) machine code between the interpreter and the optimizing
# compiler. serve's hot code (the review path, the generated CEL functions) is optimized by TurboFan
# either way; Sparkplug's copies of the warm rest (start-up, the policy compiler, the CEL functions of
# policies that rarely match) held 3-4 MB of live heap and 5-7 MB of resident memory at the peak under
# load in bench:memory (100,000 reviews), with serve's CPU per review within the noise of the same
# runs (A/B, same session).
# --single-threaded-gc: the garbage collector's work on the main thread only, instead of helper threads
# the main thread waits for in every scavenge (and that a 1-CPU limit throttles with it). In
# bench:memory (100,000 reviews, 5 A/B pairs on a shared 2-core machine) the scavenges' pause time fell
# to 0.2-0.55x, the longest full-GC pause from 11-22 ms to about 5, serve's CPU per review 0.91-0.99x;
# resident memory 2-3 MB more at idle, 1-2 MB more at the peak (README "Performance").
# A larger young generation (--max-semi-space-size=8; V8 rounds the size up to a power of two, so 5-7
# are 8) saved CPU but took the peak past 100 MB.
# V8 flags cannot be given in NODE_OPTIONS, so it is set here.
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=4", "--no-sparkplug", "--single-threaded-gc", "/app/dist/cli/main.js"]
CMD ["serve", "--namespaces-from-cluster"]
