// Asks the backend, through the server that serves this page (/api), how
// its peers are, and says so.
type Health = Record<string, string>

async function show(): Promise<void> {
  const el = document.querySelector<HTMLParagraphElement>('#health')!
  try {
    const res = await fetch('/api/health')
    const health: Health = await res.json()
    const peers = Object.entries(health)
      .filter(([name]) => name !== 'status')
      .map(([name, state]) => `${name} ${state}`)
    el.textContent = `${health.status}: ${peers.join(', ')}`
  } catch (err) {
    el.textContent = `no answer from /api: ${err}`
  }
}

show()
