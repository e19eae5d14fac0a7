// The checks behind the server's door, one by one (the attacks themselves are in attacks.test.ts).
import os from 'node:os'
import { describe, expect, it } from 'vitest'
import { allowedHostnames, hostAllowed, originAllowed, tokenMatches } from '../../src/server/request-guards'

describe('tokenMatches', () => {
  const token = 'a'.repeat(48)
  it('accepts only the token itself, whatever the length or encoding of what was sent', () => {
    expect(tokenMatches(token, token)).toBe(true)
    for (const given of [null, '', 'a'.repeat(47), 'a'.repeat(49), 'é'.repeat(48), 'é'.repeat(24), '\0'.repeat(48), 'A'.repeat(48)]) {
      expect(tokenMatches(given, token)).toBe(false)
    }
  })
})

describe('hostAllowed', () => {
  const names = allowedHostnames('127.0.0.1')
  it('accepts the loopback names on the server port only', () => {
    for (const host of ['127.0.0.1:7447', 'localhost:7447', 'LOCALHOST:7447', '[::1]:7447'])
      expect([host, hostAllowed(host, names, 7447)]).toEqual([host, true])
    for (const host of [
      undefined,
      '',
      'attacker.example:7447',
      'localhost.attacker.example:7447',
      '127.0.0.1:80',
      '127.0.0.1',
      '127.0.0.1:7447:1',
      'user@127.0.0.1:7447',
      '127.0.0.1:7447/x',
      ' 127.0.0.1:7447',
      '[::1:7447'
    ]) {
      expect([host, hostAllowed(host, names, 7447)]).toEqual([host, false])
    }
  })

  it('adds the address it is bound to, and for a wildcard this machine’s addresses and name', () => {
    expect(hostAllowed('192.168.1.20:7447', allowedHostnames('192.168.1.20'), 7447)).toBe(true)
    expect(hostAllowed('192.168.1.20:7447', names, 7447)).toBe(false)
    const everywhere = allowedHostnames('0.0.0.0')
    expect(hostAllowed(`${os.hostname()}:7447`, everywhere, 7447)).toBe(true)
    const address = Object.values(os.networkInterfaces())
      .flat()
      .find((n) => n && n.family === 'IPv4')!.address
    expect(hostAllowed(`${address}:7447`, everywhere, 7447)).toBe(true)
    expect(hostAllowed('attacker.example:7447', everywhere, 7447)).toBe(false)
  })
})

describe('originAllowed', () => {
  it('accepts no Origin (not a browser) or exactly the page the server served', () => {
    expect(originAllowed(undefined, '127.0.0.1:7447')).toBe(true)
    expect(originAllowed('http://127.0.0.1:7447', '127.0.0.1:7447')).toBe(true)
    for (const origin of ['null', 'http://attacker.example', 'https://127.0.0.1:7447', 'http://127.0.0.1:7448', 'http://localhost:7447', '']) {
      expect([origin, originAllowed(origin, '127.0.0.1:7447')]).toEqual([origin, false])
    }
    expect(originAllowed('http://127.0.0.1:7447', undefined)).toBe(false)
  })
})
