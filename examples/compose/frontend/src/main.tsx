import { StrictMode, useEffect, useState } from 'react'
import { createRoot } from 'react-dom/client'

// Asks the backend, through the server that serves this page (/api), how
// its peers are, and says so.
type Health = Record<string, string>

function HealthLine() {
  const [text, setText] = useState('asking the backend...')
  useEffect(() => {
    fetch('/api/health')
      .then((res) => res.json() as Promise<Health>)
      .then((health) => {
        const peers = Object.entries(health)
          .filter(([name]) => name !== 'status')
          .map(([name, state]) => `${name} ${state}`)
        setText(`${health.status}: ${peers.join(', ')}`)
      })
      .catch((err) => setText(`no answer from /api: ${err}`))
  }, [])
  return <p id="health">{text}</p>
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <h1>compose example</h1>
    <HealthLine />
  </StrictMode>,
)
