import { defineConfig } from 'vite'

// The commandcenter module runs `npm run dev` with HOST, PORT and BACKEND_URL
// set; /api goes to the backend over the engine's network, so a browser needs
// only the frontend's port. Vite answers only requests for localhost names
// and IP addresses (its default host check), so a page of another site
// cannot reach this server through DNS rebinding.
export default defineConfig({
  server: {
    host: process.env.HOST || '127.0.0.1',
    port: Number(process.env.PORT || 3000),
    strictPort: true,
    proxy: {
      '/api': { target: process.env.BACKEND_URL || 'http://127.0.0.1:8000', changeOrigin: true },
    },
  },
})
