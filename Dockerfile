# Tollgate image: one program, several roles (`serve --roles inference|api|worker|otlp`, or `migrate`).
#   docker build -t tollgate .      (docker-compose.yml builds it for every role)
FROM node:20-bookworm-slim AS build
WORKDIR /app
# onnxruntime-node's install script would fetch CUDA files; the CPU binaries ship in the package.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
# Exactly the lock's versions; not `npm ci`, see scripts/prepare.sh (an optional Windows-only
# package of vite that the lock cannot list).
RUN npm install --no-save --no-audit --no-fund
COPY . .
RUN npm run build \
 && node console/build.mjs \
 && if [ -f scripts/prepare-models.mjs ]; then node scripts/prepare-models.mjs; fi \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    TOLLGATE_HOST=0.0.0.0 \
    TOLLGATE_STATE_DIR=/var/lib/tollgate
COPY --from=build /app /app
# The state folder holds the usage write-ahead log: give each replica its own volume there.
RUN mkdir -p /var/lib/tollgate && chown node:node /var/lib/tollgate
USER node
EXPOSE 8000 4000 4318
ENTRYPOINT ["node", "bin/tollgate.js"]
CMD ["serve"]
