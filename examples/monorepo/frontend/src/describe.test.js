import { describe, expect, it } from 'vitest'
import { describeAnalysis, describeBeat } from './describe.js'

describe('describeAnalysis', () => {
  it('says a queued analysis is queued', () => {
    expect(describeAnalysis({ id: 3, status: 'queued' })).toBe('#3: queued')
  })
  it('gives the counts of a done one', () => {
    expect(describeAnalysis({ id: 3, status: 'done', words: 6, top: ['to', 'be'] })).toBe('#3: 6 words, most common: to, be')
  })
})

describe('describeBeat', () => {
  it('says when there was none', () => {
    expect(describeBeat({ last: null })).toBe('no heartbeat from the beat yet')
  })
  it('gives the age of the last one', () => {
    expect(describeBeat({ last: 1, age_seconds: 1.5 })).toBe('last heartbeat 1.5 s ago')
  })
})
