# One image for the Phoenix worker, the HTTP trigger API and the demo service (docker-compose.yml
# picks the command). Runs the TypeScript sources through tsx, the same way `npm run worker` does,
# so the image and a checkout behave identically.
#
#   docker build -t phoenix-rollouts .

FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies included: tsx runs the sources, and the worker bundles workflows at start-up.
RUN npm ci --no-audit --no-fund && npm cache clean --force

FROM node:20-slim
ENV NODE_ENV=production \
    # Inside a container the listeners must reach the container network; publish them on the
    # host's 127.0.0.1 (docker-compose.yml does) rather than widening these.
    PHOENIX_METRICS_ADDR=0.0.0.0:9464 \
    PHOENIX_SDK_METRICS_ADDR=0.0.0.0:9465
WORKDIR /app
# Owned by root and read-only for the runtime user: the processes never write into /app.
COPY --from=deps /app/node_modules ./node_modules
COPY . .
# The dashboard's bundle (dist/dashboard), which the API serves; /app is read-only at run time.
RUN node dashboard/build.mjs
# The `node` user (uid 1000) ships with the base image.
USER node
EXPOSE 9464 9465 8088
CMD ["node", "--import", "tsx", "worker/main.ts"]
