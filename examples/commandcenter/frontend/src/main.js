import { healthText, noteLine } from './format.js'

async function getJSON(path) {
  const res = await fetch(path)
  return res.json()
}

async function showHealth() {
  let report = null
  try {
    report = await getJSON('/api/health')
  } catch {
    report = null
  }
  document.querySelector('#health').textContent = healthText(report)
}

async function showNotes() {
  const { source, notes } = await getJSON('/api/notes')
  document.querySelector('#source').textContent = `${notes.length} notes, from the ${source}`
  const list = document.querySelector('#notes')
  list.replaceChildren(...notes.map((n) => Object.assign(document.createElement('li'), { textContent: noteLine(n) })))
}

document.querySelector('#new-note').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = event.target
  await fetch('/api/notes', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ title: form.title.value, body: form.body.value }),
  })
  form.reset()
  await showNotes()
})

showHealth()
showNotes()
