// Built into dist/ and served by the app under /map/ (app.py); `npm run build` from web/.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/map/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500, // MapLibre alone is ~1 MB minified
  },
  server: {
    // `npm run dev` during development: the API from a `phananh serve` (PHANANH_API, default
    // http://127.0.0.1:8000).
    proxy: Object.fromEntries(['/graphql', '/tiles', '/export', '/ogc']
      .map((path) => [path, process.env.PHANANH_API ?? 'http://127.0.0.1:8000'])),
  },
});
