// Pure helpers of the page, tested with vitest.

export function healthText(report) {
  if (!report || typeof report !== 'object') return 'backend unreachable'
  const parts = ['postgres', 'redis'].map((name) => `${name}: ${report[name] ?? 'unknown'}`)
  return `${report.status === 'ok' ? 'all good' : 'degraded'} (${parts.join(', ')})`
}

export function noteLine(note) {
  const title = String(note.title ?? '').trim() || '(untitled)'
  const body = String(note.body ?? '').trim()
  return body ? `#${note.id} ${title}: ${body}` : `#${note.id} ${title}`
}
