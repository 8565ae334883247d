import { defineConfig } from 'vite'

// Written for a developer's machine: the dev server on localhost:3000, and
// /api sent to the backend at localhost:8000.
export default defineConfig({
  server: {
    port: 3000,
    proxy: {
      '/api': 'http://localhost:8000',
    },
  },
})
