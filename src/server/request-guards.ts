// Who may talk to the headless server: the holder of the token, through a host name that is this
// machine's, from a page the server itself served. The Host check defeats DNS rebinding (a
// foreign page whose name suddenly resolves to 127.0.0.1); the Origin check stops another site's
// page from opening a WebSocket with a token that leaked.
import { createHash, timingSafeEqual } from 'node:crypto'
import os from 'node:os'

/** Constant-time token comparison for any input: digests have one length whatever was sent. */
export function tokenMatches(given: string | null, token: string): boolean {
  if (!given) return false
  const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()
  return timingSafeEqual(digest(given), digest(token))
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]']
const WILDCARDS = new Set(['0.0.0.0', '::', '[::]'])

/** Host names a browser may use to reach a server bound to `bound`. */
export function allowedHostnames(bound: string): Set<string> {
  const names = new Set(LOOPBACK_NAMES)
  const add = (address: string): void => void names.add((address.includes(':') && !address.startsWith('[') ? `[${address}]` : address).toLowerCase())
  // An address literal is never an attacker's name, and the printed URL uses this one.
  add(bound)
  if (WILDCARDS.has(bound)) {
    // Listening everywhere: this machine's own addresses and name are the ones a browser would use.
    for (const nets of Object.values(os.networkInterfaces())) for (const net of nets ?? []) add(net.address.split('%')[0])
    add(os.hostname())
  }
  return names
}

// host [":" port], where host is a name, an IPv4 address or a bracketed IPv6 address (RFC 9110 §7.2).
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i

/** Whether a request's Host header names this server: an allowed name and the port it listens on. */
export function hostAllowed(host: string | undefined, names: Set<string>, port: number): boolean {
  const match = HOST_HEADER.exec(host ?? '')
  if (!match) return false
  return names.has(match[1].toLowerCase()) && Number(match[2] ?? 80) === port
}

/**
 * Whether a WebSocket's Origin is the server's own page. Browsers always send Origin on a
 * WebSocket handshake; a client without one is not a browser, so no page can be driving it.
 */
export function originAllowed(origin: string | undefined, host: string | undefined): boolean {
  if (origin === undefined) return true
  return host !== undefined && origin.toLowerCase() === `http://${host.toLowerCase()}`
}
