// electron-vite dev points the window at its dev server through ELECTRON_RENDERER_URL. A packaged
// app must never take that from its environment (anyone who can set a variable could load their
// page with the preload's bridge), and even in development only a plain-http page on this machine
// is a dev server.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** The dev server's URL if it may be loaded, else null (the built files are loaded instead). */
export function devRendererUrl(value: string | undefined, isPackaged: boolean): string | null {
  if (isPackaged || !value) return null
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return null
  }
  if (url.protocol !== 'http:' || !LOOPBACK.has(url.hostname) || url.username || url.password) return null
  return url.href
}
