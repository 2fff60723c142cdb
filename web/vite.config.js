// Built into dist/ and served by the app (app.py): the planner's map (index.html) at /map, and
// GraphiQL (graphiql.html) at /graphql for browsers; their files under /map/. `npm run build`
// from web/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/map/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 4000, // MapLibre alone is ~1 MB minified, GraphiQL's editor ~3 MB
    rollupOptions: {
      input: { map: 'index.html', graphiql: 'graphiql.html' },
      onwarn(warning, warn) {
        // React libraries' "use client" directives mean nothing in a browser bundle.
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  worker: { format: 'es' }, // GraphiQL's editor workers are ES modules
  server: {
    // `npm run dev` during development: the API from a `phananh serve` (PHANANH_API, default
    // http://127.0.0.1:8000).
    proxy: Object.fromEntries(['/graphql', '/tiles', '/export', '/ogc']
      .map((path) => [path, process.env.PHANANH_API ?? 'http://127.0.0.1:8000'])),
  },
});
