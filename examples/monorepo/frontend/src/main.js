import { describeAnalysis, describeBeat } from './describe.js'

const result = document.getElementById('result')

async function poll(id) {
  const a = await (await fetch(`/api/analyses/${id}`)).json()
  result.textContent = describeAnalysis(a)
  if (a.status !== 'done') setTimeout(() => poll(id), 500)
}

document.getElementById('analyze').addEventListener('submit', async (e) => {
  e.preventDefault()
  const res = await fetch('/api/analyses', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text: document.getElementById('text').value }),
  })
  poll((await res.json()).id)
})

async function beat() {
  document.getElementById('beat').textContent = describeBeat(await (await fetch('/api/beat')).json())
}
beat()
setInterval(beat, 2000)
