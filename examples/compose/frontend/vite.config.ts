import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// Written for a developer's machine: the dev server on localhost:3000, and
// /api sent to the backend at localhost:8000.
export default defineConfig({
  plugins: [react()],
  server: {
    port: 3000,
    proxy: {
      '/api': 'http://localhost:8000',
    },
  },
})
