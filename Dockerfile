# Canopy's image: the compiled CLI, its production dependencies and the starter policies.
#   docker build -t REGISTRY/canopy:0.1.0 .
# The Helm chart (charts/canopy) runs it as user 65532 with a read-only root filesystem; it writes
# only to /var/lib/canopy (state) and /tmp, both emptyDir volumes.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
COPY policies ./policies
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin
COPY --from=build /src/policies ./policies
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["node", "/app/bin/canopy.js"]
CMD ["serve", "--config", "/etc/canopy/config/canopy.yaml"]
