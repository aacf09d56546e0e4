# The origin shard image (Cloudflare Containers: wrangler.toml [[containers]], objects/origin-container.ts).
# Build stage: TypeScript to JavaScript, so the image runs plain Node with no loader.
FROM node:22.23.3-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=optional --ignore-scripts
COPY tsconfig.json tsconfig.origin.json ./
COPY protocol protocol
COPY origin origin
COPY scripts/copy-origin-assets.ts scripts/
RUN npm run build:origin

# Runtime: production dependencies and the compiled origin only (no tsx, vitest, wrangler, playwright).
FROM node:22.23.3-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist dist
USER node
EXPOSE 8080
# Node is PID 1: the origin handles SIGTERM and SIGINT itself (a staggered drain, then exit) and
# starts no child processes, so there is nothing to reap and no init is needed.
STOPSIGNAL SIGTERM
CMD ["node", "dist/origin/main.js"]
