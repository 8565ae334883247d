import { describe, expect, it } from 'vitest'
import { healthText, noteLine } from './format.js'

describe('healthText', () => {
  it('says all good when both services are ok', () => {
    expect(healthText({ status: 'ok', postgres: 'ok', redis: 'ok' })).toBe('all good (postgres: ok, redis: ok)')
  })
  it('names the service that is down', () => {
    expect(healthText({ status: 'degraded', postgres: 'ok', redis: 'error: timeout' })).toBe(
      'degraded (postgres: ok, redis: error: timeout)',
    )
  })
  it('says when the backend did not answer', () => {
    expect(healthText(null)).toBe('backend unreachable')
  })
})

describe('noteLine', () => {
  it('shows id, title and body', () => {
    expect(noteLine({ id: 3, title: 'Plan', body: 'ship it' })).toBe('#3 Plan: ship it')
  })
  it('leaves out an empty body and names untitled notes', () => {
    expect(noteLine({ id: 4, title: '  ', body: '' })).toBe('#4 (untitled)')
  })
})
