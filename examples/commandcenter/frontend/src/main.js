import * as initialFormat from './format.js'

// The page's helpers; replaced in place when format.js changes (below).
let format = initialFormat

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
  document.querySelector('#health').textContent = format.healthText(report)
}

async function showNotes() {
  const { source, notes } = await getJSON('/api/notes')
  document.querySelector('#source').textContent = `${notes.length} notes, from the ${source}`
  const list = document.querySelector('#notes')
  list.replaceChildren(...notes.map((n) => Object.assign(document.createElement('li'), { textContent: format.noteLine(n) })))
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

// With the dev server, a change to format.js reaches the open page as a hot
// update: the page shows its data again with the new helpers, and keeps
// its state (no reload).
if (import.meta.hot) {
  import.meta.hot.accept('./format.js', (updated) => {
    if (!updated) return
    format = updated
    showHealth()
    showNotes()
  })
}
