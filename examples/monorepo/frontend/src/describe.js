// How the page words an analysis and the worker's heartbeat.

export function describeAnalysis(a) {
  if (a.status !== 'done') return `#${a.id}: ${a.status}`
  return `#${a.id}: ${a.words} words, most common: ${a.top.join(', ')}`
}

export function describeBeat(b) {
  if (b.last === null) return 'no heartbeat from the beat yet'
  return `last heartbeat ${b.age_seconds} s ago`
}
